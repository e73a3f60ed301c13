fn main() {
    println!("hostinfo");
}

//! Windows: a process tree as a Job Object, and the console's stop events.
//!
//! Windows has no process groups to signal: a child's own children (`npx` → node → esbuild)
//! outlive a `kill` of the child. A Job Object holds a process and, from then on, every
//! process it starts; terminating the job ends them all, and with "kill on job close" the
//! job ends them when its last handle closes, which is when this process ends, however it
//! ends (Ctrl-C, a closed console, Task Manager). Jobs nest (Windows 8 and later), so this
//! works under a CI runner's or a terminal's own job.
//!
//! Through windows-sys, the Windows API's own bindings (already in the tree through
//! notify): the four calls a job needs, and the console's control handler.

use std::os::windows::io::AsRawHandle;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, TRUE};
use windows_sys::Win32::System::Console::{
    SetConsoleCtrlHandler, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation, SetInformationJobObject,
    TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};

/// A Job Object that kills its processes when it is dropped (or this process ends).
#[derive(Debug)]
pub(super) struct Job(HANDLE);

// SAFETY: a job handle may be used and closed from any thread.
unsafe impl Send for Job {}

impl Job {
    /// A new job, with kill on close.
    pub(super) fn new() -> std::io::Result<Job> {
        // SAFETY: null attributes and name make an anonymous job; the handle is checked.
        let handle = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if handle.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        let job = Job(handle);
        // SAFETY: zeroed is a valid JOBOBJECT_EXTENDED_LIMIT_INFORMATION (plain integers).
        let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        // SAFETY: the pointer and size are those of `limits`, which outlives the call.
        let set = unsafe {
            SetInformationJobObject(
                job.0,
                JobObjectExtendedLimitInformation,
                std::ptr::from_ref(&limits).cast(),
                std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            )
        };
        if set == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(job)
    }

    /// Puts `child` (and whatever it starts from now on) in the job.
    pub(super) fn assign(&self, child: &std::process::Child) -> std::io::Result<()> {
        // SAFETY: both handles are open: the job's own, and the child's while it is borrowed.
        if unsafe { AssignProcessToJobObject(self.0, child.as_raw_handle() as HANDLE) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// How many processes of the job are running.
    #[cfg(test)]
    pub(super) fn active_processes(&self) -> std::io::Result<u32> {
        use windows_sys::Win32::System::JobObjects::{
            JobObjectBasicAccountingInformation, QueryInformationJobObject,
            JOBOBJECT_BASIC_ACCOUNTING_INFORMATION,
        };
        // SAFETY: zeroed is a valid JOBOBJECT_BASIC_ACCOUNTING_INFORMATION (plain integers).
        let mut info: JOBOBJECT_BASIC_ACCOUNTING_INFORMATION = unsafe { std::mem::zeroed() };
        // SAFETY: the pointer and size are those of `info`, which outlives the call.
        let ok = unsafe {
            QueryInformationJobObject(
                self.0,
                JobObjectBasicAccountingInformation,
                std::ptr::from_mut(&mut info).cast(),
                std::mem::size_of::<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION>() as u32,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(info.ActiveProcesses)
    }

    /// Ends every process in the job.
    pub(super) fn terminate(&self) {
        // SAFETY: the handle is open; the exit code is the one a killed process gets.
        unsafe { TerminateJobObject(self.0, 1) };
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: the handle is open and closed once; kill on close ends what is left.
        unsafe { CloseHandle(self.0) };
    }
}

/// Set once the session has stopped what it started: the console's handler waits for it.
static CLEANED_UP: AtomicBool = AtomicBool::new(false);

/// The flag the console's handler sets (the process module's stop flag).
static STOP_FLAG: std::sync::OnceLock<&'static AtomicBool> = std::sync::OnceLock::new();

/// Ctrl-C, Ctrl-Break, a closed console window, logoff and shutdown set the stop flag
/// instead of ending this process. For a closed console Windows ends the process when the
/// handler returns (or after about 5 s): the handler waits up to 4.5 s for the session to say
/// it has cleaned up (`cleaned_up`).
pub(super) fn catch_console_events(stop: &'static AtomicBool) {
    let _ = STOP_FLAG.set(stop);
    unsafe extern "system" fn handler(event: u32) -> i32 {
        if let Some(stop) = STOP_FLAG.get() {
            stop.store(true, Ordering::SeqCst);
        }
        if matches!(event, CTRL_CLOSE_EVENT | CTRL_LOGOFF_EVENT | CTRL_SHUTDOWN_EVENT) {
            let start = Instant::now();
            while !CLEANED_UP.load(Ordering::SeqCst) && start.elapsed() < Duration::from_millis(4500) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        TRUE
    }
    // SAFETY: the handler only stores and loads atomics and sleeps, on a thread Windows
    // starts for it.
    unsafe { SetConsoleCtrlHandler(Some(handler), TRUE) };
}

/// Tells the console's handler that everything the session started has been stopped.
pub(super) fn cleaned_up() {
    CLEANED_UP.store(true, Ordering::SeqCst);
}

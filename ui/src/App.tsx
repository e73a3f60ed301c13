import { useState } from "react";
import {
  Alert,
  Box,
  Button,
  Card,
  CardActions,
  CardContent,
  CircularProgress,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableRow,
  Typography,
} from "@mui/material";
import { errorMessage, type Client } from "./client";
// template:backend:begin
import { callBackend } from "./client";
// template:backend:end
// template:host-binaries:begin
import { HOST_BINARY, runHostBinary } from "./client";
// template:host-binaries:end

/** Loading, done or failed: one call's state. */
type Call<T> = { state: "idle" } | { state: "loading" } | { state: "done"; value: T } | { state: "failed"; error: string };

export function useCall<T>(client: Client, what: string, run: (client: Client) => Promise<T>) {
  const [call, setCall] = useState<Call<T>>({ state: "idle" });
  const start = async () => {
    setCall({ state: "loading" });
    try {
      setCall({ state: "done", value: await run(client) });
    } catch (error) {
      const message = errorMessage(error);
      setCall({ state: "failed", error: message });
      client.desktopUI.toast.error(`${what} failed: ${message}`);
    }
  };
  return [call, start] as const;
}

export function App({ client }: { client: Client }) {
  // template:backend:begin
  const [hello, callHello] = useCall(client, "Calling the backend", callBackend);
  // template:backend:end
  // template:host-binaries:begin
  const [host, callHost] = useCall(client, `Running ${HOST_BINARY}`, runHostBinary);
  // template:host-binaries:end

  return (
    <Box sx={{ p: 3 }}>
      <Typography variant="h3">Rust Starter</Typography>
      <Typography variant="body1" color="text.secondary" sx={{ mt: 1, mb: 3 }}>
        A backend in Docker Desktop's VM and a binary on your machine, both written in Rust.
      </Typography>
      <Stack direction={{ xs: "column", md: "row" }} spacing={2} alignItems="stretch">
        {/* template:backend:begin */}
        <Panel
          title="Backend"
          description="Runs in a container in Docker Desktop's VM and answers on a Unix socket."
          action="Call the backend"
          call={hello}
          onClick={callHello}
          testId="backend"
        >
          {hello.state === "done" && (
            <Facts
              rows={[
                ["Answer", hello.value.message],
                ["Version", hello.value.version],
                ["CPU", `${hello.value.arch} (${hello.value.os})`],
              ]}
            />
          )}
        </Panel>
        {/* template:backend:end */}
        {/* template:host-binaries:begin */}
        <Panel
          title="Host binary"
          description={`Runs ${HOST_BINARY} on your own machine: what Docker Desktop's VM cannot see.`}
          action={`Run ${HOST_BINARY}`}
          call={host}
          onClick={callHost}
          testId="host"
        >
          {host.state === "done" && (
            <Facts
              rows={[
                ["OS", `${host.value.os_version ?? host.value.os}`],
                ["CPU", `${host.value.arch}, ${host.value.cpus} cores`],
                ["Host name", host.value.hostname ?? "unknown"],
                ...host.value.tools.map((t): [string, string] => [t.name, t.found ? (t.version ?? "found") : "not found"]),
              ]}
            />
          )}
        </Panel>
        {/* template:host-binaries:end */}
      </Stack>
    </Box>
  );
}

export function Panel(props: {
  title: string;
  description: string;
  action: string;
  call: Call<unknown>;
  onClick: () => void;
  testId: string;
  children?: React.ReactNode;
}) {
  const loading = props.call.state === "loading";
  return (
    <Card variant="outlined" sx={{ flex: 1 }} data-testid={props.testId}>
      <CardContent>
        <Typography variant="h4">{props.title}</Typography>
        <Typography variant="body2" color="text.secondary" sx={{ mt: 1 }}>
          {props.description}
        </Typography>
        {props.call.state === "failed" && (
          <Alert severity="error" sx={{ mt: 2 }} role="alert">
            {props.call.error}
          </Alert>
        )}
        {props.children}
      </CardContent>
      <CardActions sx={{ px: 2, pb: 2 }}>
        <Button variant="contained" onClick={props.onClick} disabled={loading}>
          {props.action}
        </Button>
        {loading && <CircularProgress size={24} aria-label="Loading" />}
      </CardActions>
    </Card>
  );
}

export function Facts({ rows }: { rows: [string, string][] }) {
  return (
    <Table size="small" sx={{ mt: 2 }}>
      <TableBody>
        {rows.map(([name, value]) => (
          <TableRow key={name}>
            <TableCell component="th" sx={{ fontWeight: 600, width: "30%" }}>
              {name}
            </TableCell>
            <TableCell>{value}</TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}

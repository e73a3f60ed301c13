import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { CssBaseline } from "@mui/material";
import { createDockerDesktopClient } from "@docker/extension-api-client";
import { App } from "./App";
import { NoDockerDesktop } from "./NoDockerDesktop";
import { Theme } from "./Theme";

// Outside Docker Desktop (a plain browser without the harness) there is no ddClient:
// say so instead of showing a blank page.
let client;
try {
  client = createDockerDesktopClient();
} catch {
  client = undefined;
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Theme>
      <CssBaseline />
      {client ? <App client={client} /> : <NoDockerDesktop />}
    </Theme>
  </StrictMode>,
);

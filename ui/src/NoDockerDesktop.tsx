import { Alert, Box, Typography } from "@mui/material";

export function NoDockerDesktop() {
  return (
    <Box sx={{ p: 3 }}>
      <Typography variant="h3">Rust Starter</Typography>
      <Alert severity="info" sx={{ mt: 2 }}>
        This page is a Docker Desktop extension: it talks to Docker Desktop, which is not here. Install the
        extension in Docker Desktop, or open it through the harness (<code>npm run harness</code>), which stands in
        for Docker Desktop with the real backend and host binary.
      </Alert>
    </Box>
  );
}

import { useMemo, type ReactNode } from "react";
import { createTheme, ThemeProvider, useMediaQuery } from "@mui/material";
import { DockerMuiV6ThemeProvider } from "@docker/docker-mui-theme";

/**
 * Docker Desktop's look. The theme package reads theme options that Docker Desktop injects
 * (`window.__ddMuiV6Themes`, for MUI 6) and throws where they are missing: outside Docker
 * Desktop, fall back to MUI's own theme so the page still renders.
 */
export function Theme({ children }: { children: ReactNode }) {
  // The package declares the options as always present; they are not, outside Docker Desktop.
  if ((window as { __ddMuiV6Themes?: unknown }).__ddMuiV6Themes) {
    return <DockerMuiV6ThemeProvider>{children}</DockerMuiV6ThemeProvider>;
  }
  return <FallbackTheme>{children}</FallbackTheme>;
}

function FallbackTheme({ children }: { children: ReactNode }) {
  const dark = useMediaQuery("(prefers-color-scheme: dark)", { noSsr: true });
  const theme = useMemo(() => createTheme({ palette: { mode: dark ? "dark" : "light" } }), [dark]);
  return <ThemeProvider theme={theme}>{children}</ThemeProvider>;
}

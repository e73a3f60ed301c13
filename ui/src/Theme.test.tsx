import { afterEach, expect, it } from "vitest";
import { cleanup, render, screen } from "@testing-library/react";
import { Theme } from "./Theme";
import { NoDockerDesktop } from "./NoDockerDesktop";

afterEach(() => {
  cleanup();
  Reflect.deleteProperty(window, "__ddMuiV6Themes");
});

it("renders outside Docker Desktop, where its theme options are missing", () => {
  render(
    <Theme>
      <NoDockerDesktop />
    </Theme>,
  );
  expect(screen.getByText(/This page is a Docker Desktop extension/)).toBeTruthy();
});

it("uses Docker Desktop's theme options when Docker Desktop injected them", () => {
  (window as { __ddMuiV6Themes?: unknown }).__ddMuiV6Themes = {
    light: { palette: { mode: "light", primary: { main: "#123456" } } },
    dark: { palette: { mode: "dark", primary: { main: "#123456" } } },
  };
  render(
    <Theme>
      <NoDockerDesktop />
    </Theme>,
  );
  expect(screen.getByText(/This page is a Docker Desktop extension/)).toBeTruthy();
});

package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/internal/buildinfo"
)

// version is set at link time by the Makefile (-X main.version=...);
// unstamped, the binary's build information names it (buildinfo.Version).
var version = buildinfo.Unstamped

type versionInfo struct {
	Version string `json:"version"`
	Module  string `json:"module"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

func currentVersion() versionInfo {
	v := versionInfo{Version: buildinfo.Version(version), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Module = bi.Main.Path
	}
	return v
}

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use: "version",
		Example: `  ftmctl version
  ftmctl version -o json`,
		Short: "Print the version of ftmctl",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := currentVersion()
			if err := checkOutput(output, actionFormats...); err != nil {
				return err
			}
			if structured(output) {
				return printStructured(cmd.OutOrStdout(), output, v)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "ftmctl %s (%s, %s %s/%s)\n", v.Version, v.Module, v.Go, v.OS, v.Arch)
			return err
		},
	}
	addOutputFlag(cmd, &output, "table", actionFormats...)
	return cmd
}

// withVersionFlag gives root a --version flag printing what ftmctl version
// prints in its table form.
func withVersionFlag(root *cobra.Command) {
	v := currentVersion()
	root.Version = v.Version
	root.SetVersionTemplate(fmt.Sprintf("ftmctl %s (%s, %s %s/%s)\n", v.Version, v.Module, v.Go, v.OS, v.Arch))
}

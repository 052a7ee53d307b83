package layers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// listModule runs `go list -json` over the whole module.
func listModule(t *testing.T) []Package {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", Module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs
		}
		require.NoError(t, err)
		pkgs = append(pkgs, p)
	}
}

// The map holds for the module as it is: no import of a non-test file runs
// up or across it, every test import that does is a named exception, and
// every top-level folder is placed.
func TestNoImportRunsUpTheMap(t *testing.T) {
	pkgs := listModule(t)
	var seen []string
	for _, p := range pkgs {
		seen = append(seen, p.ImportPath)
	}
	// Not vacuous: the listing reaches the bottom and the top of the map.
	require.Contains(t, seen, Module+"/kernel")
	require.Contains(t, seen, Module+"/ftmctl")
	for _, v := range Check(pkgs) {
		t.Errorf("%s", v)
	}
	for _, e := range Unused(pkgs) {
		t.Logf("exception no longer needed, remove it from TestExceptions: %s -> %s", e.From, e.To)
	}
}

// Check reports each way an import can break the map, and only those.
func TestCheckReportsImportsThatBreakTheMap(t *testing.T) {
	m := func(rel string) string { return Module + "/" + rel }
	cases := []struct {
		name string
		pkg  Package
		want []string
	}{
		{"down", Package{ImportPath: m("servers/pager"), Imports: []string{m("rvm"), m("servers"), m("kernel/clock"), "fmt"}}, nil},
		{"leaf", Package{ImportPath: m("pair"), Imports: []string{m("internal/failpoint")}}, nil},
		{"up", Package{ImportPath: m("rvm"), Imports: []string{m("servers")}},
			[]string{"rvm imports servers: up from layer rvm to layer services"}},
		{"up from the bottom", Package{ImportPath: m("kernel/link"), Imports: []string{m("stm")}},
			[]string{"kernel/link imports stm: up from layer kernel to layer stm"}},
		{"across", Package{ImportPath: m("pair"), Imports: []string{m("task")}},
			[]string{"pair imports task: across layer stable (its folders are independent)"}},
		{"devices over servers", Package{ImportPath: m("devices/screen"), Imports: []string{m("servers")}}, nil},
		{"leaf imports kernel", Package{ImportPath: m("internal/failpoint"), Imports: []string{m("kernel/failpoint")}}, nil},
		{"leaf imports above kernel", Package{ImportPath: m("internal/failpoint"), Imports: []string{m("stm")}},
			[]string{"internal/failpoint imports stm: internal/ is a leaf: it imports nothing of the module above kernel/"}},
		{"unplaced folder", Package{ImportPath: m("plugins"), Imports: []string{m("pair")}},
			[]string{"plugins: folder plugins/ is on no layer of the map"}},
		{"import of an unplaced folder", Package{ImportPath: m("ftmctl"), Imports: []string{m("plugins")}},
			[]string{"ftmctl imports plugins: folder plugins/ is on no layer of the map"}},
		{"test import", Package{ImportPath: m("stm"), XTestImports: []string{m("rvm")}},
			[]string{"stm imports in a test rvm: up from layer stm to layer rvm"}},
		{"excepted test import", Package{ImportPath: m("servers"), TestImports: []string{m("pair")}}, nil},
		{"an exception does not cover production code", Package{ImportPath: m("servers"), Imports: []string{m("pair")}},
			[]string{"servers imports pair: up from layer services to layer stable"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, v := range Check([]Package{c.pkg}) {
				got = append(got, v.String())
			}
			require.Equal(t, c.want, got)
		})
	}
}

// Unused names an exception no test needs any more, and only that one.
func TestUnusedExceptions(t *testing.T) {
	pkgs := []Package{{ImportPath: Module + "/servers", TestImports: []string{Module + "/pair"}}}
	unused := Unused(pkgs)
	require.Len(t, unused, len(TestExceptions)-1)
	for _, e := range unused {
		require.NotEqual(t, Exception{From: "servers", To: "pair"}, Exception{From: e.From, To: e.To})
	}
}

// docs/architecture.md draws the map: the lines of its first diagram that
// name a layer name every layer, top down, with each of its folders.
func TestArchitectureDocDrawsTheMap(t *testing.T) {
	f, err := os.Open("../../docs/architecture.md")
	require.NoError(t, err)
	defer f.Close()
	lines := diagramLines(t, bufio.NewScanner(f))
	var names []string
	for i := len(Map) - 1; i >= 0; i-- {
		names = append(names, Map[i].Name)
	}
	var drawn []string
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if _, ok := layerNamed(fields[0]); !ok {
			continue
		}
		drawn = append(drawn, fields[0])
		l, _ := layerNamed(fields[0])
		for _, folder := range l.Folders {
			require.Contains(t, fields, folder+"/", "layer %s's line in docs/architecture.md", l.Name)
		}
	}
	require.Equal(t, names, drawn, "layers drawn in docs/architecture.md, top down")
}

// diagramLines returns the lines of the first fenced block after the
// "## Layers" heading.
func diagramLines(t *testing.T, sc *bufio.Scanner) []string {
	var lines []string
	state := 0 // 0: before the heading, 1: before the block, 2: in it
	for sc.Scan() {
		line := sc.Text()
		switch {
		case state == 0 && line == "## Layers":
			state = 1
		case state == 1 && strings.HasPrefix(line, "```"):
			state = 2
		case state == 2 && strings.HasPrefix(line, "```"):
			return lines
		case state == 2:
			lines = append(lines, line)
		}
	}
	require.NoError(t, sc.Err())
	t.Fatal("docs/architecture.md: no diagram after \"## Layers\"")
	return nil
}

func layerNamed(name string) (Layer, bool) {
	for _, l := range Map {
		if l.Name == name {
			return l, true
		}
	}
	return Layer{}, false
}

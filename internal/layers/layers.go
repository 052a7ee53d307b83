package layers

import (
	"fmt"
	"slices"
	"strings"
)

// Module is the import path of the module the map describes.
const Module = "github.com/ftm-in-go/ftm"

// Leaf is the folder of helpers every layer may import; its packages import
// nothing else of the module but the kernel layer's seams (kernel/failpoint).
const Leaf = "internal"

// Layer is one rank of the map: a name and the top-level folders in it.
type Layer struct {
	Name    string
	Folders []string
}

// Map lists the layers from the bottom up.
var Map = []Layer{
	{Name: "kernel", Folders: []string{"kernel"}},
	{Name: "stm", Folders: []string{"stm"}},
	{Name: "rvm", Folders: []string{"rvm"}},
	{Name: "services", Folders: []string{"servers"}},
	{Name: "devices", Folders: []string{"devices"}},
	{Name: "stable", Folders: []string{"pair", "task", "publish", "cluster"}},
	{Name: "node", Folders: []string{"node"}},
	{Name: "client", Folders: []string{"client"}},
	{Name: "applications", Folders: []string{"examples"}},
	{Name: "tools", Folders: []string{"ftmctl"}},
}

// Exception is a test import allowed to break the map, and why.
type Exception struct {
	From, To string // import paths relative to Module
	Why      string
}

// TestExceptions are the test imports that break the map today. A
// production import is never excepted.
var TestExceptions = []Exception{
	{From: "servers", To: "pair", Why: "pairtakeover_test.go runs a reliable server " +
		"through a takeover by two pair.Stable members; it belongs one layer up"},
	{From: "pair", To: "cluster", Why: "survivor_test.go runs a pair whose Stable " +
		"asks an in-memory group (cluster.MemGroup) for leases, as the node wires it"},
	{From: "pair", To: "task", Why: "fencing_test.go checks that a partition leaves " +
		"a stable task running on one side only"},
}

// Package is one package's imports, as `go list -json` reports them.
type Package struct {
	ImportPath   string
	Imports      []string // of its non-test files
	TestImports  []string // of its in-package test files
	XTestImports []string // of its external (_test package) test files
}

// Violation is one import that breaks the map (To is empty when the
// package itself sits in a folder the map does not place).
type Violation struct {
	From, To string // import paths relative to Module
	Test     bool   // made by a test file
	Reason   string
}

// String says which import breaks the map and how, in one line.
func (v Violation) String() string {
	kind := "imports"
	if v.Test {
		kind = "imports in a test"
	}
	if v.To == "" {
		return fmt.Sprintf("%s: %s", v.From, v.Reason)
	}
	return fmt.Sprintf("%s %s %s: %s", v.From, kind, v.To, v.Reason)
}

// Check returns every import of pkgs that breaks the map, and every
// package of the module whose folder the map does not place.
func Check(pkgs []Package) []Violation {
	var out []Violation
	for _, p := range pkgs {
		from, ok := relative(p.ImportPath)
		if !ok {
			continue
		}
		if _, placed := rank(folder(from)); !placed && folder(from) != Leaf {
			out = append(out, Violation{From: from, Reason: fmt.Sprintf("folder %s/ is on no layer of the map", folder(from))})
			continue
		}
		out = append(out, checkImports(from, p.Imports, false)...)
		test := append(slices.Clone(p.TestImports), p.XTestImports...)
		out = append(out, checkImports(from, test, true)...)
	}
	return out
}

// Unused returns the exceptions no test import of pkgs needs any more.
func Unused(pkgs []Package) []Exception {
	var out []Exception
	for _, e := range TestExceptions {
		used := slices.ContainsFunc(pkgs, func(p Package) bool {
			from, ok := relative(p.ImportPath)
			return ok && from == e.From && (importsRel(p.TestImports, e.To) || importsRel(p.XTestImports, e.To))
		})
		if !used {
			out = append(out, e)
		}
	}
	return out
}

// checkImports checks the imports of the package from (relative to Module)
// made by its non-test files, or by its test files when test is set.
func checkImports(from string, imports []string, test bool) []Violation {
	var out []Violation
	for _, imp := range imports {
		to, ok := relative(imp)
		if !ok || (test && excepted(from, to)) {
			continue
		}
		if reason := breaks(from, to); reason != "" {
			out = append(out, Violation{From: from, To: to, Test: test, Reason: reason})
		}
	}
	return out
}

// breaks says why an import from one package to another breaks the map,
// or "" when it runs down.
func breaks(from, to string) string {
	ff, ft := folder(from), folder(to)
	switch {
	case ff == ft || ft == Leaf:
		return ""
	case ff == Leaf && ft != Map[0].Folders[0]:
		return "internal/ is a leaf: it imports nothing of the module above kernel/"
	case ff == Leaf:
		return ""
	}
	rf, _ := rank(ff)
	rt, placed := rank(ft)
	switch {
	case !placed:
		return fmt.Sprintf("folder %s/ is on no layer of the map", ft)
	case rt == rf:
		return fmt.Sprintf("across layer %s (its folders are independent)", Map[rf].Name)
	case rt > rf:
		return fmt.Sprintf("up from layer %s to layer %s", Map[rf].Name, Map[rt].Name)
	}
	return ""
}

func excepted(from, to string) bool {
	return slices.ContainsFunc(TestExceptions, func(e Exception) bool { return e.From == from && e.To == to })
}

func importsRel(imports []string, to string) bool {
	return slices.ContainsFunc(imports, func(imp string) bool {
		rel, ok := relative(imp)
		return ok && rel == to
	})
}

// relative is path without the module prefix; false for a path outside
// the module (the standard library, dependencies).
func relative(path string) (string, bool) {
	return strings.CutPrefix(path, Module+"/")
}

// folder is the top-level folder of a module-relative path.
func folder(rel string) string {
	f, _, _ := strings.Cut(rel, "/")
	return f
}

// rank is the index in Map of the layer holding the top-level folder f.
func rank(f string) (int, bool) {
	for i, l := range Map {
		if slices.Contains(l.Folders, f) {
			return i, true
		}
	}
	return 0, false
}

// Package layers is the project's layer map as data, and the check that
// keeps the imports true to it (docs/architecture.md draws the same map).
//
// The map ranks the module's top-level folders from the bottom up: kernel,
// stm, rvm, then servers, then devices (reliable servers built on
// servers), then pair, task and publish, then examples,
// then ftmctl. A package may import packages of its own folder, packages of
// a lower layer, and the leaf helpers under internal/. Folders that share a
// layer are independent of each other. internal/ imports nothing else of
// the module.
//
// Check takes what `go list` reports and returns every import that breaks
// the map; layers_test.go runs it over the whole module, so `make test`
// fails when an import runs up (or across) the map, or when a top-level
// folder appears that the map does not place.
//
// Invariants: a production import (a non-test file) never breaks the map;
// a test import breaks it only where TestExceptions names it, with the
// reason.
package layers

// Package kv is the tutorial reliable server of docs/programming-guide.md:
// a key-value store written only against package servers. examples/kvstore
// runs it; ftmctl runs one per bank as the built-in server BANK/kv.
package kv

package main

import (
	"context"
	"testing"
)

func TestDemo(t *testing.T) {
	if err := demo(context.Background()); err != nil {
		t.Fatal(err)
	}
}

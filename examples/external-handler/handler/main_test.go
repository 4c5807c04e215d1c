package main

import (
	"context"
	"encoding/json"
	"testing"
)

func TestHandle(t *testing.T) {
	got, err := handle(context.Background(), json.RawMessage(`{"zone":"rose-garden","minutes":12}`))
	if err != nil || got != "zone rose-garden watered for 12 minutes" {
		t.Errorf("handle = %q, %v", got, err)
	}
	for _, bad := range []string{`{"zone":"","minutes":3}`, `{"zone":"a","minutes":0}`, `[1]`, `nope`} {
		if _, err := handle(context.Background(), json.RawMessage(bad)); err == nil {
			t.Errorf("handle(%s) accepted", bad)
		}
	}
}

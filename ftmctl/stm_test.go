package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/pair"
)

func TestPrintSTMTableAndJSON(t *testing.T) {
	rows := []stmRow{
		{Node: "beta", BankStatus: pair.BankStatus{Name: "alpha", Role: pair.RoleTakenOver, Epoch: 2, Objects: 69, Seq: 18, Mirror: pair.MirrorNone, CommitsRefused: true}},
		{Node: "beta", BankStatus: pair.BankStatus{Name: "beta", Role: pair.RoleOwn, Epoch: 1, Mirror: pair.MirrorAttached}},
		{Node: "alpha", BankStatus: pair.BankStatus{Name: "beta", Role: pair.RoleBackup, Ready: true}},
	}
	var out bytes.Buffer
	require.NoError(t, printSTM(&out, "table", rows))
	require.Regexp(t, `beta\s+alpha\s+taken-over\s+2\s+69\s+18\s+none\s+refused \(no backup\)`, out.String())
	require.Regexp(t, `alpha\s+beta\s+backup\s+0\s+0\s+0\s+full copy\s+-`, out.String())
	out.Reset()
	require.NoError(t, printSTM(&out, "json", rows))
	var back []stmRow
	require.NoError(t, json.Unmarshal(out.Bytes(), &back))
	require.Equal(t, rows, back)
	require.ErrorContains(t, printSTM(&out, "xml", rows), "unknown output format")
}

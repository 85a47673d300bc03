package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

const canary = "4111111111111111"

func TestValuePrintsRedactionMark(t *testing.T) {
	v := Copy([]byte(canary))
	holder := struct {
		Card  Value
		CardP *Value
	}{v, &v}
	outputs := map[string]string{}
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d", "%T"} {
		outputs["value "+verb] = fmt.Sprintf(verb, v)
		outputs["pointer "+verb] = fmt.Sprintf(verb, &v)
		outputs["struct "+verb] = fmt.Sprintf(verb, holder)
	}
	outputs["String"] = v.String()
	outputs["GoString"] = v.GoString()
	outputs["error"] = fmt.Errorf("wrapped: %v", v).Error()
	encoded, err := json.Marshal(holder)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	outputs["json"] = string(encoded)
	mapKey, err := json.Marshal(map[Value]int{v: 1})
	if err != nil {
		t.Fatalf("json.Marshal map key: %v", err)
	}
	outputs["json map key"] = string(mapKey)

	for name, out := range outputs {
		if bytes.Contains([]byte(out), []byte(canary)) || bytes.Contains([]byte(out), []byte("34313131")) {
			t.Errorf("%s printed the plaintext: %s", name, out)
		}
	}
}

func TestValueLogsRedactionMark(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)
	v := Copy([]byte(canary))
	logger.Info("card", zap.Object("pan", v), zap.Any("any", v), zap.Stringer("stringer", v), zap.Reflect("reflect", v))

	entry := logs.All()[0]
	encoded, err := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()).EncodeEntry(entry.Entry, entry.Context)
	if err != nil {
		t.Fatalf("EncodeEntry: %v", err)
	}
	if bytes.Contains(encoded.Bytes(), []byte(canary)) {
		t.Errorf("log line contains the plaintext: %s", encoded.Bytes())
	}
	if !bytes.Contains(encoded.Bytes(), []byte(Redacted)) {
		t.Errorf("log line lacks the redaction mark: %s", encoded.Bytes())
	}
}

func TestWipeZeroesBackingArray(t *testing.T) {
	backing := []byte(canary)
	v := New(backing)
	alias := v
	alias.Wipe()

	if !bytes.Equal(backing, make([]byte, len(canary))) {
		t.Errorf("backing array after Wipe = %v, want zeros", backing)
	}
	if !v.Wiped() {
		t.Error("Wiped() = false on a copy after Wipe")
	}
	if v.Len() != 0 || v.Bytes() != nil {
		t.Errorf("after Wipe Len = %d, Bytes = %v; want 0 and nil", v.Len(), v.Bytes())
	}
	v.Wipe() // a second wipe is harmless
}

func TestCopyLeavesSourceToCaller(t *testing.T) {
	source := []byte(canary)
	v := Copy(source)
	v.Wipe()
	if string(source) != canary {
		t.Error("Copy shares the caller's array")
	}
}

func TestZeroValue(t *testing.T) {
	var v Value
	if !v.Wiped() || v.Len() != 0 || v.Bytes() != nil {
		t.Error("zero Value is not empty")
	}
	v.Wipe()
	if got := fmt.Sprint(v); got != Redacted {
		t.Errorf("zero Value prints %q", got)
	}
}

package paths

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
)

func TestFactoryVersion(t *testing.T) {
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	lb, err := NewFactory("v0.1.0")(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	if v := lb.(logical.PluginVersioner).PluginVersion().Version; v != "v0.1.0" {
		t.Fatalf("version %q", v)
	}
	lb, err = Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	if v := lb.(logical.PluginVersioner).PluginVersion().Version; v != DefaultVersion || !ValidVersion(v) {
		t.Fatalf("default version %q", v)
	}
	if New("not-a-version", 0).RunningVersion != DefaultVersion {
		t.Fatalf("an invalid version was reported")
	}
	for v, want := range map[string]bool{
		"v0.1.0": true, "0.1.0": true, "v1.2.3-rc.1": true, "v1.2.3+build.5": true, "v0.0.0-dev": true,
		"v1.2": true, "": false, "latest": false, "v1.x": false, "1.2.3-": false,
	} {
		if ValidVersion(v) != want {
			t.Errorf("ValidVersion(%q) = %t", v, !want)
		}
	}
}

func TestNoEventSenderIsFine(t *testing.T) {
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	b := New("v0.1.0", 0)
	if err := b.Setup(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	b.Engine().Close(context.Background()) // nothing queued, no sender: must not panic or hang
	b.Cleanup(context.Background())
}

// Every path, field and operation is documented for path-help and OpenAPI,
// and every operation with an upstream side effect is forwarded from
// performance standbys and secondaries.
func TestPathsDocumented(t *testing.T) {
	b := New("v0.1.0", 0)
	for _, p := range b.Paths {
		if p.HelpSynopsis == "" || p.HelpDescription == "" || p.DisplayAttrs == nil || p.DisplayAttrs.OperationPrefix != "passwordsafe" {
			t.Errorf("%s: missing help or display attributes", p.Pattern)
		}
		for name, f := range p.Fields {
			if f.Description == "" || f.DisplayAttrs == nil || f.DisplayAttrs.Name == "" {
				t.Errorf("%s: field %s lacks a description or display name", p.Pattern, name)
			}
		}
		for op, h := range p.Operations {
			props := h.Properties()
			if props.Summary == "" || props.DisplayAttrs == nil {
				t.Errorf("%s %s: no summary or display attributes", p.Pattern, op)
			}
			mutating := op != logical.ReadOperation && op != logical.ListOperation
			if strings.HasPrefix(p.Pattern, "creds/") {
				mutating = true // a read creates a Password Safe request
			}
			if mutating && (!props.ForwardPerformanceStandby || !props.ForwardPerformanceSecondary) {
				t.Errorf("%s %s: not forwarded from performance standbys/secondaries", p.Pattern, op)
			}
		}
	}
	if b.Secret(SecretType) == nil || b.Secret(SecretType).Renew == nil {
		t.Fatalf("no renewable lease type")
	}
}

// The wal_rollback_min_age mount option shortens WAL rollback for tests and
// demos; values that would race a running checkout are refused.
func TestMountOptionWALRollbackMinAge(t *testing.T) {
	cases := []struct {
		opts    map[string]string
		want    time.Duration
		wantErr bool
	}{
		{nil, backend.DefaultWALRollbackMinAge, false},
		{map[string]string{"wal_rollback_min_age": ""}, backend.DefaultWALRollbackMinAge, false},
		{map[string]string{"wal_rollback_min_age": "45s"}, 45 * time.Second, false},
		{map[string]string{"wal_rollback_min_age": "1h"}, time.Hour, false},
		{map[string]string{"wal_rollback_min_age": "29s"}, 0, true},
		{map[string]string{"wal_rollback_min_age": "soon"}, 0, true},
	}
	for _, tc := range cases {
		conf := logical.TestBackendConfig()
		conf.StorageView = &logical.InmemStorage{}
		conf.Config = tc.opts
		lb, err := NewFactory("v1.0.0")(context.Background(), conf)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%v: err %v, want error %v", tc.opts, err, tc.wantErr)
		}
		if err == nil {
			b := lb.(*Backend)
			if b.WALRollbackMinAge != tc.want || b.Engine().WALRollbackMinAge() != tc.want {
				t.Fatalf("%v: min age %s (engine %s), want %s", tc.opts, b.WALRollbackMinAge, b.Engine().WALRollbackMinAge(), tc.want)
			}
		}
	}
}

package paths

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
)

// A lease's internal data is a stored format: it must round-trip, and read
// back in every shape Vault or an older build may hand over.
func TestLeaseData(t *testing.T) {
	want := backend.Lease{
		RequestID: 1234, Holder: "h-1", RunAs: "svc-vault", Role: "pg",
		ExpiresAt: time.Unix(1_800_000_000, 0), IssuedAt: time.Unix(1_799_990_000, 0),
		MaxTTL: 2 * time.Hour, TTL: 10 * time.Minute,
	}
	viaJSON := func(m map[string]interface{}) map[string]interface{} {
		raw, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]interface{}
		if err := json.Unmarshal(raw, &out); err != nil { // numbers as float64
			t.Fatal(err)
		}
		return out
	}
	numbers := func(conv func(int64) interface{}) map[string]interface{} {
		return map[string]interface{}{
			"secret_type": SecretType, "request_id": conv(1234), "holder": "h-1", "run_as": "svc-vault", "role": "pg",
			"expires_at": conv(1_800_000_000), "issued_at": conv(1_799_990_000), "max_ttl": conv(7200), "ttl": conv(600),
		}
	}
	cases := []struct {
		name string
		data map[string]interface{}
		want *backend.Lease // nil: an error
	}{
		{"as written", leaseInternal(want), &want},
		{"after JSON (float64)", viaJSON(leaseInternal(want)), &want},
		{"json.Number", numbers(func(n int64) interface{} { return json.Number(jsonInt(n)) }), &want},
		{"numbers as strings", numbers(func(n int64) interface{} { return jsonInt(n) }), &want},
		{"int", numbers(func(n int64) interface{} { return int(n) }), &want},
		{"no holder (older builds)", func() map[string]interface{} {
			m := leaseInternal(want)
			delete(m, "holder")
			return m
		}(), &backend.Lease{RequestID: 1234, RunAs: "svc-vault", Role: "pg", ExpiresAt: want.ExpiresAt,
			IssuedAt: want.IssuedAt, MaxTTL: want.MaxTTL, TTL: want.TTL}},
		{"no request ID", map[string]interface{}{"role": "pg"}, nil},
		{"request ID not a number", map[string]interface{}{"request_id": "x"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := leaseOf(&logical.Secret{InternalData: tc.data})
			if tc.want == nil {
				if err == nil {
					t.Fatalf("decoded %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.ExpiresAt.Equal(tc.want.ExpiresAt) || !got.IssuedAt.Equal(tc.want.IssuedAt) {
				t.Fatalf("times %s %s, want %s %s", got.ExpiresAt, got.IssuedAt, tc.want.ExpiresAt, tc.want.IssuedAt)
			}
			g, w := *got, *tc.want
			g.ExpiresAt, g.IssuedAt, w.ExpiresAt, w.IssuedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if g != w {
				t.Fatalf("got %+v, want %+v", g, w)
			}
		})
	}
	if _, err := leaseOf(nil); err == nil {
		t.Fatal("no lease decoded")
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

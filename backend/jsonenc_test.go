package backend

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
)

// The hand-written encoders produce exactly what encoding/json would.
func TestJSONEncodersMatch(t *testing.T) {
	now := time.Date(2026, 11, 22, 13, 4, 5, 123456789, time.UTC)
	odd := "EXAMPLE\\erin \"<&>\" ünï\u2028\x01"
	walCases := []*walRequest{
		{ID: "abc", RunAs: "svc-vault", Role: "pg", SystemID: 1, AccountID: 11, StartedAt: now, createdAt: 1700000000},
		{ID: "d", RunAs: odd, Role: odd, SystemID: 2, AccountID: 21, AliasID: 2, ConflictOption: "reuse",
			StartedAt: now.In(time.FixedZone("x", 3600)), RequestID: 1001, createdAt: 1},
		{},
	}
	for _, w := range walCases {
		want, err := json.Marshal(&framework.WALEntry{Kind: walKindRequest, Data: w, CreatedAt: w.createdAt})
		if err != nil {
			t.Fatal(err)
		}
		if got := marshalWAL(w); !bytes.Equal(got, want) {
			t.Errorf("WAL:\n got %s\nwant %s", got, want)
		}
	}
	recCases := []*record{
		{RequestID: 1001, RunAs: "svc-vault", Role: "pg", SystemID: 1, AccountID: 11, Created: true, ExpiresAt: now,
			Holders: map[string]*holder{"h1": {EntityID: "e", Since: now}}},
		{RequestID: 7, RunAs: odd, Role: odd, SystemID: 3, AccountID: 31, AliasID: 3, SystemName: "fin-db-01", AccountName: odd,
			DomainName: "EXAMPLE", Ended: true, Rotates: true, Holders: map[string]*holder{
				"b": {Since: now, Pending: true, Orphan: true, TTL: time.Minute, MaxTTL: time.Hour, RoleTTL: 3, CredentialTypes: []string{"password", odd}},
				"a": {EntityID: odd, Since: now},
				"d": {Token: "0123abcd", Since: now},
				"c": nil,
			}},
		{Holders: map[string]*holder{}},
		{},
	}
	for _, r := range recCases {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := marshalRecord(r); !bytes.Equal(got, want) {
			t.Errorf("record:\n got %s\nwant %s", got, want)
		}
	}
}

func BenchmarkMarshalRecord(b *testing.B) {
	r := &record{RequestID: 1001, RunAs: "svc-vault", Role: "pg", SystemID: 1, AccountID: 11, Created: true, ExpiresAt: time.Now(),
		Holders: map[string]*holder{"0123456789abcdef0123456789abcdef": {EntityID: "e", Since: time.Now()}}}
	b.Run("hand", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_ = marshalRecord(r)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = json.Marshal(r)
		}
	})
}

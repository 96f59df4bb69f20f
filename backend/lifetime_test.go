package backend_test

import (
	"testing"
	"time"

	. "github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestDurationMinutes(t *testing.T) {
	for _, tc := range []struct {
		maxTTL     time.Duration
		accountMax int
		want       int
	}{
		{0, 0, 1},
		{time.Second, 0, 1},
		{59 * time.Second, 0, 1},
		{time.Minute, 0, 1},
		{time.Minute + time.Second, 0, 2},
		{90 * time.Second, 0, 2},
		{time.Hour, 0, 60},
		{time.Hour - time.Nanosecond, 0, 60},
		{24 * time.Hour, 0, 1440},
		{24 * time.Hour, 480, 480},
		{10 * time.Minute, 480, 10},
		{525600 * time.Minute, 0, 525600},
		{525601 * time.Minute, 0, 525600},
		{1000 * 24 * time.Hour, 600000, 525600},
		{1000 * 24 * time.Hour, 60, 60},
		{-time.Hour, 0, 1},
	} {
		if got := DurationMinutes(tc.maxTTL, tc.accountMax); got != tc.want {
			t.Errorf("DurationMinutes(%s, %d) = %d, want %d", tc.maxTTL, tc.accountMax, got, tc.want)
		}
	}
}

func TestComputeLifetime(t *testing.T) {
	sys := &logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour}
	for _, tc := range []struct {
		name                     string
		call, roleTTL, roleMax   time.Duration
		accountMax               int
		wantTTL, wantMax         time.Duration
		wantMinutes, wantWarning int
	}{
		{"mount defaults", 0, 0, 0, 0, time.Hour, 24 * time.Hour, 1440, 0},
		{"role ttl", 0, 10 * time.Minute, 0, 0, 10 * time.Minute, 24 * time.Hour, 1440, 0},
		{"role max", 0, 0, 30 * time.Minute, 0, 30 * time.Minute, 30 * time.Minute, 30, 1},
		{"role both", 0, 10 * time.Minute, 30 * time.Minute, 0, 10 * time.Minute, 30 * time.Minute, 30, 0},
		{"role max above mount", 0, 0, 48 * time.Hour, 0, time.Hour, 24 * time.Hour, 1440, 0},
		{"call ttl wins", 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, 0, 5 * time.Minute, 30 * time.Minute, 30, 0},
		{"call ttl capped", 2 * time.Hour, 0, 30 * time.Minute, 0, 30 * time.Minute, 30 * time.Minute, 30, 1},
		{"seconds round up", 0, 0, 90 * time.Second, 0, 90 * time.Second, 90 * time.Second, 2, 1},
		{"account cap", 0, 0, 0, 60, time.Hour, time.Hour, 60, 1},
		{"account cap below ttl", 0, 2 * time.Hour, 0, 60, time.Hour, time.Hour, 60, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt, err := ComputeLifetime(sys, tc.call, tc.roleTTL, tc.roleMax, tc.accountMax)
			if err != nil {
				t.Fatal(err)
			}
			if lt.TTL != tc.wantTTL || lt.MaxTTL != tc.wantMax || lt.DurationMinutes != tc.wantMinutes {
				t.Fatalf("got ttl %s max %s minutes %d, want %s %s %d", lt.TTL, lt.MaxTTL, lt.DurationMinutes, tc.wantTTL, tc.wantMax, tc.wantMinutes)
			}
			if (len(lt.Warnings) > 0) != (tc.wantWarning > 0) {
				t.Fatalf("warnings %v", lt.Warnings)
			}
		})
	}
}

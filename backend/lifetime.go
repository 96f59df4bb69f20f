package backend

import (
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Bounds of POST Requests DurationMinutes.
const (
	MinDurationMinutes = 1
	MaxDurationMinutes = 525600
)

// Lifetime is how long a checkout lives: the lease's first TTL, its max TTL
// (before the cap by the request's real expiry), and the request's duration.
type Lifetime struct {
	TTL             time.Duration
	MaxTTL          time.Duration
	DurationMinutes int
	Warnings        []string
}

// ComputeLifetime is the lease/request lifetime rule: TTL and max TTL as Vault computes
// them (framework.CalculateTTL with the mount's system view, the role's
// ttl/max_ttl and the per-call ttl); DurationMinutes = ceil(max TTL / 1m),
// clamped to 1..525600 and to the account's maximum; the lease never outlives
// the request, so max TTL and TTL are cut to DurationMinutes when clamped.
func ComputeLifetime(sys logical.SystemView, callTTL, roleTTL, roleMaxTTL time.Duration, accountMaxMinutes int) (Lifetime, error) {
	var lt Lifetime
	// The mount's max TTL is asked once: in an external plugin every
	// SystemView call is a gRPC round trip to Vault, and CalculateTTL asks
	// for it too.
	maxTTL := sys.MaxLeaseTTL()
	ttl, warnings, err := framework.CalculateTTL(onceMax{sys, maxTTL}, callTTL, roleTTL, 0, roleMaxTTL, 0, time.Time{})
	if err != nil {
		return lt, err
	}
	if roleMaxTTL > 0 && roleMaxTTL < maxTTL {
		maxTTL = roleMaxTTL
	}
	minutes := DurationMinutes(maxTTL, accountMaxMinutes)
	if limit := time.Duration(minutes) * time.Minute; maxTTL > limit {
		warnings = append(warnings, fmt.Sprintf(
			"max TTL cut from %s to %s: the Password Safe account allows requests of at most %d minutes",
			maxTTL, limit, minutes))
		maxTTL = limit
	}
	if ttl > maxTTL {
		ttl = maxTTL
	}
	lt.TTL, lt.MaxTTL, lt.DurationMinutes, lt.Warnings = ttl, maxTTL, minutes, warnings
	return lt, nil
}

// onceMax is a SystemView whose MaxLeaseTTL is a value already read.
type onceMax struct {
	logical.SystemView
	max time.Duration
}

func (v onceMax) MaxLeaseTTL() time.Duration { return v.max }

// DurationMinutes is ceil(maxTTL / 1m) clamped to 1..525600 and, when
// accountMaxMinutes > 0, to the account's maximum release duration.
func DurationMinutes(maxTTL time.Duration, accountMaxMinutes int) int {
	m := int64((maxTTL + time.Minute - 1) / time.Minute)
	if m < MinDurationMinutes {
		m = MinDurationMinutes
	}
	if m > MaxDurationMinutes {
		m = MaxDurationMinutes
	}
	if accountMaxMinutes > 0 && m > int64(accountMaxMinutes) {
		m = int64(accountMaxMinutes)
	}
	return int(m)
}

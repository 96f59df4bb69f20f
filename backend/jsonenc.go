package backend

import (
	"encoding/json"
	"sort"
	"strconv"
	"time"
)

// Hand-written JSON encoders for the two entries every checkout writes (its
// WAL entry and its request's record). encoding/json's reflection was the
// largest CPU cost of a lease after the upstream calls; these produce the
// same JSON (same keys, omitempty rules and time format) so entries still
// decode with encoding/json. TestJSONEncodersMatch keeps them in step with
// the struct tags.

// appendString appends s as a JSON string: printable ASCII is copied as is,
// anything else goes through encoding/json (same escaping as Marshal).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendTime appends t as encoding/json does (RFC 3339 with nanoseconds).
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendKey(b []byte, first bool, key string) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// marshalWAL is json.Marshal(&framework.WALEntry{Kind: walKindRequest, Data: w, CreatedAt: w.createdAt}).
func marshalWAL(w *walRequest) []byte {
	b := make([]byte, 0, 320)
	b = append(b, `{"type":`...)
	b = appendString(b, walKindRequest)
	b = append(b, `,"data":{"id":`...)
	b = appendString(b, w.ID)
	b = appendKey(b, false, "run_as")
	b = appendString(b, w.RunAs)
	b = appendKey(b, false, "role")
	b = appendString(b, w.Role)
	b = appendKey(b, false, "system_id")
	b = strconv.AppendInt(b, int64(w.SystemID), 10)
	b = appendKey(b, false, "account_id")
	b = strconv.AppendInt(b, int64(w.AccountID), 10)
	if w.AliasID != 0 {
		b = appendKey(b, false, "alias_id")
		b = strconv.AppendInt(b, int64(w.AliasID), 10)
	}
	if w.ConflictOption != "" {
		b = appendKey(b, false, "conflict_option")
		b = appendString(b, w.ConflictOption)
	}
	b = appendKey(b, false, "started_at")
	b = appendTime(b, w.StartedAt)
	if w.RequestID != 0 {
		b = appendKey(b, false, "request_id")
		b = strconv.AppendInt(b, int64(w.RequestID), 10)
	}
	b = append(b, `},"created_at":`...)
	b = strconv.AppendInt(b, w.createdAt, 10)
	return append(b, '}')
}

// marshalRecord is json.Marshal(r).
func marshalRecord(r *record) []byte {
	b := make([]byte, 0, 256+200*len(r.Holders))
	b = append(b, `{"request_id":`...)
	b = strconv.AppendInt(b, int64(r.RequestID), 10)
	b = appendKey(b, false, "run_as")
	b = appendString(b, r.RunAs)
	b = appendKey(b, false, "role")
	b = appendString(b, r.Role)
	b = appendKey(b, false, "system_id")
	b = strconv.AppendInt(b, int64(r.SystemID), 10)
	b = appendKey(b, false, "account_id")
	b = strconv.AppendInt(b, int64(r.AccountID), 10)
	if r.AliasID != 0 {
		b = appendKey(b, false, "alias_id")
		b = strconv.AppendInt(b, int64(r.AliasID), 10)
	}
	for _, f := range [...]struct{ k, v string }{
		{"system_name", r.SystemName}, {"account_name", r.AccountName}, {"domain_name", r.DomainName},
	} {
		if f.v != "" {
			b = appendKey(b, false, f.k)
			b = appendString(b, f.v)
		}
	}
	b = appendKey(b, false, "created")
	b = strconv.AppendBool(b, r.Created)
	b = appendKey(b, false, "expires_at")
	b = appendTime(b, r.ExpiresAt)
	if r.Ended {
		b = append(b, `,"ended":true`...)
	}
	if r.Rotates {
		b = append(b, `,"rotates":true`...)
	}
	b = append(b, `,"holders":`...)
	if r.Holders == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		first := true
		for _, k := range sortedKeys(r.Holders) {
			b = appendKey(b, first, k)
			first = false
			b = appendHolder(b, r.Holders[k])
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendHolder(b []byte, h *holder) []byte {
	if h == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	first := true
	if h.EntityID != "" {
		b = appendKey(b, first, "entity_id")
		b = appendString(b, h.EntityID)
		first = false
	}
	if h.Token != "" {
		b = appendKey(b, first, "token")
		b = appendString(b, h.Token)
		first = false
	}
	b = appendKey(b, first, "since")
	b = appendTime(b, h.Since)
	for _, f := range [...]struct {
		k string
		v bool
	}{{"pending", h.Pending}, {"orphan", h.Orphan}} {
		if f.v {
			b = appendKey(b, false, f.k)
			b = append(b, "true"...)
		}
	}
	for _, f := range [...]struct {
		k string
		v time.Duration
	}{{"ttl", h.TTL}, {"max_ttl", h.MaxTTL}, {"role_ttl", h.RoleTTL}} {
		if f.v != 0 {
			b = appendKey(b, false, f.k)
			b = strconv.AppendInt(b, int64(f.v), 10)
		}
	}
	if len(h.CredentialTypes) > 0 {
		b = appendKey(b, false, "credential_types")
		b = append(b, '[')
		for i, t := range h.CredentialTypes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, t)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// sortedKeys returns the holder IDs in order (as encoding/json writes maps).
func sortedKeys(m map[string]*holder) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	if len(ks) > 1 {
		sort.Strings(ks)
	}
	return ks
}

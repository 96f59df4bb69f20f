package client

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Password Safe writes dates as ISO-8601, but not always the same way:
// with or without a zone, with or without fractional seconds, and older
// servers in the .NET "/Date(ms)/" form. The *time.Time fields of Request,
// ManagedAccount and Alias are decoded by flexTime; a date without a zone is
// taken as UTC, and Request.Zoneless says one was: such a server may write
// its local time, so a caller that compares the date with its own clock
// must allow for any zone offset. null and "" leave the field nil.

var timeLayouts = [...]struct {
	layout string
	zoned  bool
}{
	{time.RFC3339Nano, true},                      // 2024-05-01T10:00:00.123Z, +02:00
	{"2006-01-02T15:04:05.999999999Z0700", true},  // +0200
	{"2006-01-02T15:04:05.999999999", false},      // no zone
	{"2006-01-02 15:04:05.999999999Z07:00", true}, // space instead of T
	{"2006-01-02 15:04:05.999999999", false},
	{"2006-01-02T15:04", false},
	{"2006-01-02", false},
}

var errBadTime = errors.New("unrecognised date format")

// ParseTime parses a date the way Password Safe writes it (see above).
func ParseTime(s string) (time.Time, error) {
	t, _, err := parseTime(s)
	return t, err
}

// parseTime is ParseTime, and whether the date named its zone ("/Date(ms)/"
// counts from the epoch, so it does).
func parseTime(s string) (t time.Time, zoned bool, err error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "/Date(") && strings.HasSuffix(s, ")/") {
		t, err = parseDotNetDate(s[len("/Date(") : len(s)-len(")/")])
		return t, true, err
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l.layout, s); err == nil {
			return t, l.zoned, nil
		}
	}
	return time.Time{}, false, errBadTime
}

// parseDotNetDate reads "1714557600000" or "1714557600000+0200" (ms since
// the epoch; the offset only says which zone to show it in).
func parseDotNetDate(s string) (time.Time, error) {
	ms, zone := s, ""
	if i := strings.LastIndexAny(s, "+-"); i > 0 {
		ms, zone = s[:i], s[i:]
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, errBadTime
	}
	t := time.UnixMilli(n).UTC()
	if len(zone) == 5 {
		h, err1 := strconv.Atoi(zone[1:3])
		m, err2 := strconv.Atoi(zone[3:5])
		if err1 == nil && err2 == nil {
			off := h*3600 + m*60
			if zone[0] == '-' {
				off = -off
			}
			t = t.In(time.FixedZone("", off))
		}
	}
	return t, nil
}

// flexTime decodes one optional date.
type flexTime struct {
	t        *time.Time
	zoneless bool
}

func (f *flexTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		f.t = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if strings.TrimSpace(s) == "" {
		f.t = nil
		return nil
	}
	t, zoned, err := parseTime(s)
	if err != nil {
		return err
	}
	f.t, f.zoneless = &t, !zoned
	return nil
}

// UnmarshalJSON decodes a Request, accepting every date form ParseTime does.
func (r *Request) UnmarshalJSON(b []byte) error {
	type plain Request // no methods: no recursion
	aux := struct {
		*plain
		RequestReleaseDate flexTime `json:"RequestReleaseDate"`
		ApprovedDate       flexTime `json:"ApprovedDate"`
		ExpiresDate        flexTime `json:"ExpiresDate"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	r.RequestReleaseDate, r.ApprovedDate, r.ExpiresDate = aux.RequestReleaseDate.t, aux.ApprovedDate.t, aux.ExpiresDate.t
	r.Zoneless = aux.RequestReleaseDate.zoneless || aux.ApprovedDate.zoneless || aux.ExpiresDate.zoneless
	return nil
}

// UnmarshalJSON decodes a ManagedAccount, accepting every date form ParseTime does.
func (a *ManagedAccount) UnmarshalJSON(b []byte) error {
	type plain ManagedAccount
	aux := struct {
		*plain
		LastChangeDate flexTime `json:"LastChangeDate"`
		NextChangeDate flexTime `json:"NextChangeDate"`
	}{plain: (*plain)(a)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	a.LastChangeDate, a.NextChangeDate = aux.LastChangeDate.t, aux.NextChangeDate.t
	return nil
}

// UnmarshalJSON decodes an Alias, accepting every date form ParseTime does.
func (a *Alias) UnmarshalJSON(b []byte) error {
	type plain Alias
	aux := struct {
		*plain
		LastChangeDate flexTime `json:"LastChangeDate"`
		NextChangeDate flexTime `json:"NextChangeDate"`
	}{plain: (*plain)(a)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	a.LastChangeDate, a.NextChangeDate = aux.LastChangeDate.t, aux.NextChangeDate.t
	return nil
}

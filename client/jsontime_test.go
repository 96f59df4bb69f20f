package client_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

func TestParseTime(t *testing.T) {
	want := time.Date(2024, 5, 1, 10, 30, 15, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2024-05-01T10:30:15Z", want},
		{"2024-05-01T10:30:15", want},
		{"2024-05-01T10:30:15.1234567", want.Add(123456700)},
		{"2024-05-01T10:30:15.123Z", want.Add(123 * time.Millisecond)},
		{"2024-05-01T12:30:15+02:00", want},
		{"2024-05-01T12:30:15.5+0200", want.Add(500 * time.Millisecond)},
		{"2024-05-01 10:30:15", want},
		{" 2024-05-01T10:30:15Z ", want},
		{"/Date(1714559415000)/", want},
		{"/Date(1714559415000+0200)/", want},
		{"2024-05-01", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)},
	} {
		got, err := client.ParseTime(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2024-13-01T00:00:00", "/Date(x)/"} {
		if _, err := client.ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) succeeded", bad)
		}
	}
}

func TestDecodeDates(t *testing.T) {
	var reqs []client.Request
	body := `[{"RequestID":7,"SystemID":1,"AccountID":11,"AliasID":0,"ApplicationID":null,
		"RequestReleaseDate":"2024-05-01T10:30:15","ApprovedDate":"2024-05-01T10:30:15.997Z",
		"ExpiresDate":"2024-05-01T12:30:15+02:00","Status":"Active","AccessType":"View","Reason":"r"},
		{"RequestID":8,"RequestReleaseDate":null,"ApprovedDate":"","ExpiresDate":"2024-05-01T10:30:15Z"}]`
	if err := json.Unmarshal([]byte(body), &reqs); err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || reqs[0].RequestID != 7 || reqs[0].SystemID != 1 || reqs[0].Status != "Active" || reqs[0].Reason != "r" {
		t.Fatalf("decoded %+v", reqs)
	}
	if reqs[0].RequestReleaseDate == nil || reqs[0].ApprovedDate == nil || reqs[0].ExpiresDate == nil ||
		!reqs[0].RequestReleaseDate.Equal(*reqs[0].ExpiresDate) {
		t.Errorf("dates: %v %v %v", reqs[0].RequestReleaseDate, reqs[0].ApprovedDate, reqs[0].ExpiresDate)
	}
	if reqs[1].RequestReleaseDate != nil || reqs[1].ApprovedDate != nil || reqs[1].ExpiresDate == nil {
		t.Errorf("null/empty dates: %+v", reqs[1])
	}
	// One date without a zone makes the request's dates suspect (the server
	// may write its local time); zoned and epoch dates do not.
	if !reqs[0].Zoneless || reqs[1].Zoneless {
		t.Errorf("zoneless: %v %v", reqs[0].Zoneless, reqs[1].Zoneless)
	}
	var zoned []client.Request
	if err := json.Unmarshal([]byte(`[{"RequestReleaseDate":"2024-05-01T10:30:15+02:00","ExpiresDate":"/Date(1714559415000)/"},
		{"ExpiresDate":"2024-05-01 10:30:15"}, {"ApprovedDate":"2024-05-01"}]`), &zoned); err != nil {
		t.Fatal(err)
	}
	if zoned[0].Zoneless || !zoned[1].Zoneless || !zoned[2].Zoneless {
		t.Errorf("zoneless: %v %v %v", zoned[0].Zoneless, zoned[1].Zoneless, zoned[2].Zoneless)
	}
	if err := json.Unmarshal([]byte(`[{"ExpiresDate":"soon"}]`), &reqs); err == nil {
		t.Error("a bad date decoded")
	}

	var ma client.ManagedAccount
	if err := json.Unmarshal([]byte(`{"SystemId":1,"AccountId":11,"AccountName":"postgres","LastChangeDate":"2024-05-01T10:30:15","NextChangeDate":null,"ApplicationID":501}`), &ma); err != nil {
		t.Fatal(err)
	}
	if ma.SystemID != 1 || ma.AccountID != 11 || ma.LastChangeDate == nil || ma.NextChangeDate != nil || ma.ApplicationID == nil || *ma.ApplicationID != 501 {
		t.Errorf("managed account %+v", ma)
	}
	var al client.Alias
	if err := json.Unmarshal([]byte(`{"AliasId":3,"AliasName":"fin-sa","LastChangeDate":"2024-05-01T10:30:15.1+00:00","MappedAccounts":[{"AliasID":3,"ManagedSystemID":3,"ManagedAccountID":31,"Status":2}]}`), &al); err != nil {
		t.Fatal(err)
	}
	if al.AliasID != 3 || al.LastChangeDate == nil || len(al.MappedAccounts) != 1 || al.MappedAccounts[0].Status != 2 {
		t.Errorf("alias %+v", al)
	}
	// Marshalling still yields plain RFC 3339 for users of the types.
	out, _ := json.Marshal(reqs[1])
	if len(out) == 0 {
		t.Error("marshal")
	}
}

func TestWireShapes(t *testing.T) {
	for in, want := range map[string]int{"124": 124, " 124\n": 124, `"124"`: 124, `{"RequestID":9}`: 9} {
		if got, ok := client.ParseRequestID([]byte(in)); !ok || got != want {
			t.Errorf("ParseRequestID(%q) = %d, %t", in, got, ok)
		}
	}
	for _, bad := range []string{"", "0", "-1", "abc", "1.5", `{"RequestID":0}`, "null"} {
		if _, ok := client.ParseRequestID([]byte(bad)); ok {
			t.Errorf("ParseRequestID(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{`"p@ss"`: "p@ss", `"a\"b"`: `a"b`, `"line\nnext"`: "line\nnext", `"\u00e9"`: "é", `"é"`: "é", `""`: ""} {
		if got, ok := client.DecodeJSONString([]byte(in)); !ok || got != want {
			t.Errorf("DecodeJSONString(%q) = %q, %t", in, got, ok)
		}
	}
	for _, bad := range []string{"", `"`, "secret", `{"a":1}`, `"a"b"`, "\"a\x01\""} {
		if _, ok := client.DecodeJSONString([]byte(bad)); ok {
			t.Errorf("DecodeJSONString(%q) accepted", bad)
		}
	}
}

package pstest

import (
	"net/http"
	"sync/atomic"
	"testing"
)

func TestHistoryLimit(t *testing.T) {
	s := newDemo(t)
	s.Edit().SetHistory(3)
	u := signIn(t, s, "alice")
	var ids []int
	for i := 0; i < 10; i++ {
		id := u.mustCreate(1, 11, 5)
		ids = append(ids, id)
		u.put("Requests/"+itoa(id)+"/Checkin", nil)
	}
	open := u.mustCreate(1, 11, 5)
	got := s.Inspect().Requests()
	if len(got) > 4 || got[len(got)-1].ID != open {
		t.Fatalf("after 10 ended requests with history 3: %d remembered", len(got))
	}
	if _, ok := s.Inspect().Request(ids[0]); ok {
		t.Error("the oldest ended request is still remembered")
	}
	st, body := u.put("Requests/"+itoa(ids[0])+"/Checkin", nil)
	wantStatus(t, "checkin of a forgotten request", st, body, 404, "")
	if rs := mustState(t, s, open); rs.Status != StatusActive {
		t.Fatalf("open request: %+v", rs)
	}
}

// BenchmarkCheckoutCycle measures create + credential + check-in through
// real HTTP with parallel clients, each on its own load-NN account.
func BenchmarkCheckoutCycle(b *testing.B) {
	s := NewServer(DemoWorld())
	defer s.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	var next atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := int(next.Add(1)-1) % 40
		u := newUser(b, s, "svc-vault")
		u.hc.Transport = tr
		if st, body := u.signAppin("PS-Auth key=" + DemoAPIKey + "; runas=svc-vault;"); st != 200 {
			b.Error(body)
			return
		}
		sys := 100 + n
		for pb.Next() {
			st, id, body := u.create(map[string]any{"SystemID": sys, "AccountID": sys*10 + 1, "DurationMinutes": 60, "ConflictOption": "renew"})
			if st != 201 {
				b.Error(st, body)
				return
			}
			if st, _ := u.credential(id, ""); st != 200 {
				b.Error("credential", st)
				return
			}
			if st, _ := u.put("Requests/"+itoa(id)+"/Checkin", nil); st != 204 {
				b.Error("checkin", st)
				return
			}
		}
	})
}

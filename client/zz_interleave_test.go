package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZInterleave(t *testing.T) {
	if os.Getenv("INTERLEAVE") == "" {
		t.Skip()
	}
	s := pstest.NewServer(pstest.DemoWorld())
	defer s.Close()
	ctx := context.Background()
	c, _ := client.New(client.Config{BaseURL: s.APIURL, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault})
	c.SignIn(ctx)
	in := client.RequestInput{AccessType: client.AccessView, SystemID: 100, AccountID: 1001, DurationMinutes: 60, Reason: "bench"}
	runClient := func(n int) {
		for range n {
			id, _, err := c.CreateRequest(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Credential(ctx, id, client.CredentialPassword); err != nil {
				t.Fatal(err)
			}
			if err := c.Checkin(ctx, id, "bench"); err != nil {
				t.Fatal(err)
			}
		}
	}
	jar, _ := cookiejar.New(nil)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	hc := &http.Client{Jar: jar, Transport: tr}
	base := s.APIURL + "/"
	req, _ := http.NewRequest(http.MethodPost, base+"Auth/SignAppin", nil)
	req.Header.Set("Authorization", "PS-Auth key="+pstest.DemoAPIKey+"; runas=svc-vault;")
	resp, _ := hc.Do(req)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	do := func(method, url string, body []byte) []byte {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(ctx, method, url, rd)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return out
	}
	create := []byte(`{"AccessType":"View","SystemID":100,"AccountID":1001,"DurationMinutes":60,"Reason":"bench"}`)
	checkin := []byte(`{"Reason":"bench"}`)
	runRaw := func(n int) {
		for range n {
			id, err := strconv.Atoi(string(bytes.TrimSpace(do("POST", base+"Requests", create))))
			if err != nil {
				t.Fatal(err)
			}
			ids := strconv.Itoa(id)
			var pw string
			json.Unmarshal(do("GET", base+"Credentials/"+ids+"?type=password", nil), &pw)
			do("PUT", base+"Requests/"+ids+"/Checkin", checkin)
		}
	}
	runClient(500)
	runRaw(500)
	const batch, rounds = 300, 40
	var wall, cpu []float64
	measure := func(f func(int)) (time.Duration, time.Duration) {
		c0, w0 := cpuNow(), time.Now()
		f(batch)
		return time.Since(w0), cpuNow() - c0
	}
	for r := range rounds {
		var cw, cc, rw, rc time.Duration
		if r%2 == 0 {
			cw, cc = measure(runClient)
			rw, rc = measure(runRaw)
		} else {
			rw, rc = measure(runRaw)
			cw, cc = measure(runClient)
		}
		wall = append(wall, float64(cw)/float64(rw))
		cpu = append(cpu, float64(cc)/float64(rc))
	}
	sort.Float64s(wall)
	sort.Float64s(cpu)
	t.Logf("interleaved %d rounds x %d checkouts: median wall ratio %.3f (p25 %.3f, p75 %.3f); median CPU ratio %.3f (p25 %.3f, p75 %.3f)",
		rounds, batch, wall[rounds/2], wall[rounds/4], wall[3*rounds/4], cpu[rounds/2], cpu[rounds/4], cpu[3*rounds/4])
}

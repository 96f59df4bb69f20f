package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"testing"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// BenchmarkCheckout compares one checkout round trip (POST Requests, GET
// Credentials, PUT Checkin) through the client with the same three calls
// written against plain net/http, on one simulator. Each iteration checks
// its request in, so the next one never conflicts. The client must stay
// within 10% of raw net/http:
//
//	go test -run x -bench Checkout -count 6 ./client/
func BenchmarkCheckout(b *testing.B) {
	s := pstest.NewServer(pstest.DemoWorld())
	defer s.Close()
	// load-00/svc: auto-approve, no one else uses it.
	const sysID, acctID = 100, 1001
	ctx := context.Background()

	b.Run("client", func(b *testing.B) {
		c, err := client.New(client.Config{BaseURL: s.APIURL, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = c.SignOut(ctx) }()
		if _, err := c.SignIn(ctx); err != nil {
			b.Fatal(err)
		}
		in := client.RequestInput{AccessType: client.AccessView, SystemID: sysID, AccountID: acctID, DurationMinutes: 60, Reason: "bench"}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			id, created, err := c.CreateRequest(ctx, in)
			if err != nil || !created {
				b.Fatalf("CreateRequest: %v", err)
			}
			pw, err := c.Credential(ctx, id, client.CredentialPassword)
			if err != nil || pw == "" {
				b.Fatalf("Credential: %v", err)
			}
			if err := c.Checkin(ctx, id, "bench"); err != nil {
				b.Fatalf("Checkin: %v", err)
			}
		}
	})

	b.Run("nethttp", func(b *testing.B) {
		jar, _ := cookiejar.New(nil)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		hc := &http.Client{Jar: jar, Transport: tr}
		defer tr.CloseIdleConnections()
		base := s.APIURL + "/"

		// Sign in once: the jar keeps the session cookie.
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"Auth/SignAppin", nil)
		req.Header.Set("Authorization", "PS-Auth key="+pstest.DemoAPIKey+"; runas="+pstest.DemoUserSvcVault+";")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("SignAppin: %d", resp.StatusCode)
		}

		do := func(method, url string, body []byte, want int) []byte {
			var rd io.Reader
			if body != nil {
				rd = bytes.NewReader(body)
			}
			req, err := http.NewRequestWithContext(ctx, method, url, rd)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Accept", "application/json")
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			out, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != want {
				b.Fatalf("%s %s: %d %v", method, url, resp.StatusCode, err)
			}
			return out
		}
		create := []byte(fmt.Sprintf(`{"AccessType":"View","SystemID":%d,"AccountID":%d,"DurationMinutes":60,"Reason":"bench"}`, sysID, acctID))
		checkin := []byte(`{"Reason":"bench"}`)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			id, err := strconv.Atoi(string(bytes.TrimSpace(do(http.MethodPost, base+"Requests", create, http.StatusCreated))))
			if err != nil {
				b.Fatal(err)
			}
			ids := strconv.Itoa(id)
			var pw string
			if err := json.Unmarshal(do(http.MethodGet, base+"Credentials/"+ids+"?type=password", nil, http.StatusOK), &pw); err != nil || pw == "" {
				b.Fatalf("credential: %v", err)
			}
			do(http.MethodPut, base+"Requests/"+ids+"/Checkin", checkin, http.StatusNoContent)
		}
	})
}

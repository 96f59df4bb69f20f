// Command passwordsafe-sim runs the in-memory BeyondTrust Password Safe of
// package client/pstest as a standalone server, for local development,
// demos and end-to-end tests.
//
//	passwordsafe-sim [-listen 127.0.0.1:9443] [-world world.yaml] [-tls -cert-out ca.pem]
//	                 [-write-client-cert dir] [-ready-file path] [-session-idle 20m] [-clock real|fake]
//	passwordsafe-sim -print-credentials [-world ...]   # JSON: API keys, OAuth client, users
//	passwordsafe-sim -print-env [-world ...]           # export PSSIM_...= lines
//
// The API is served under /BeyondTrust/api/public/v3 (and the legacy
// /eEye.RetinaCS.Server/api/public/v3); the control API under /_pstest/.
// It listens on loopback only unless -allow-remote is given. Each call is
// logged as one line (method, canonical endpoint, status, duration) and
// never with headers, bodies or credentials.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

const defaultListen = "127.0.0.1:9443"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "passwordsafe-sim:", err)
		os.Exit(1)
	}
}

type options struct {
	listen      string
	allowRemote bool
	world       string
	tls         bool
	certOut     string
	clientCert  string
	printCreds  bool
	printEnv    bool
	idle        time.Duration
	readyFile   string
	clock       string
	quiet       bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("passwordsafe-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", defaultListen, "address to listen on (loopback only unless -allow-remote; port 0 picks one)")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a non-loopback -listen address (the simulator hands out its credentials to anyone)")
	fs.StringVar(&o.world, "world", "", "world file, .json, .yaml or .yml (default: the built-in demo world)")
	fs.BoolVar(&o.tls, "tls", false, "serve HTTPS with a fresh self-signed certificate for 127.0.0.1, ::1 and localhost")
	fs.StringVar(&o.certOut, "cert-out", "", "with -tls: write the certificate (PEM; it is its own CA) to this file")
	fs.StringVar(&o.clientCert, "write-client-cert", "", "with -tls: write a demo client certificate from this run's client CA to this directory "+
		"("+clientCertFile+", "+clientKeyFile+" (mode 0600) and "+clientCAFile+"), for API registrations that require one")
	fs.BoolVar(&o.printCreds, "print-credentials", false, "print the world's credentials (API keys, OAuth clients, users) as JSON and exit")
	fs.BoolVar(&o.printEnv, "print-env", false, "print the world's credentials as shell export PSSIM_...= lines and exit")
	fs.DurationVar(&o.idle, "session-idle", 0, "session idle timeout (default: the world's, 20m)")
	fs.StringVar(&o.readyFile, "ready-file", "", "write the server's root URL to this file once listening (removed on exit)")
	fs.StringVar(&o.clock, "clock", "real", "real: the clock follows wall time; fake: it moves only with POST /_pstest/clock/advance")
	fs.BoolVar(&o.quiet, "quiet", false, "do not log each call")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.certOut != "" && !o.tls {
		return o, errors.New("-cert-out needs -tls")
	}
	if o.clientCert != "" && !o.tls {
		return o, errors.New("-write-client-cert needs -tls (a client certificate is presented in the TLS handshake)")
	}
	if o.clock != "real" && o.clock != "fake" {
		return o, fmt.Errorf("-clock must be real or fake, not %q", o.clock)
	}
	if o.idle < 0 {
		return o, errors.New("-session-idle must be positive")
	}
	if err := checkListen(o.listen, o.allowRemote); err != nil {
		return o, err
	}
	return o, nil
}

// checkListen refuses addresses other than loopback unless allowed: the
// simulator serves its own credentials on /_pstest/world.
func checkListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", addr, err)
	}
	if allowRemote {
		return nil
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-listen %q is not a loopback address; use -allow-remote to serve other hosts", addr)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	w := pstest.DemoWorld()
	if o.world != "" {
		if w, err = pstest.LoadWorld(o.world); err != nil {
			return err
		}
	}
	scheme := "http"
	if o.tls {
		scheme = "https"
	}
	if o.printCreds || o.printEnv {
		creds := w.Credentials()
		creds.APIURL = scheme + "://" + o.listen + pstest.APIBasePath
		if o.printEnv {
			return printEnv(stdout, creds, scheme+"://"+o.listen, o.certOut, o.clientCert)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(creds)
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	s, err := pstest.New(w)
	if err != nil {
		return err
	}
	if o.clock == "real" {
		s.UseRealClock()
	}
	if o.idle > 0 {
		s.Edit().SetSessionIdle(o.idle)
	}
	if !o.quiet {
		s.SetLogger(logger)
	}

	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// HTTP/1.1 only: the Drop fault hijacks connections.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if o.tls {
		host, _, _ := net.SplitHostPort(o.listen)
		certPEM, keyPEM, err := pstest.SelfSignedCert(uniq("127.0.0.1", "::1", "localhost", host)...)
		if err != nil {
			ln.Close()
			return err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			ln.Close()
			return err
		}
		if o.certOut != "" {
			if err := writeFileAtomic(o.certOut, certPEM, 0o644); err != nil {
				ln.Close()
				return fmt.Errorf("write -cert-out: %w", err)
			}
		}
		if o.clientCert != "" {
			if err := writeClientCert(s, o.clientCert); err != nil {
				ln.Close()
				return fmt.Errorf("write -write-client-cert: %w", err)
			}
		}
		ln = tls.NewListener(ln, pstest.TLSConfig(cert))
	}
	root := scheme + "://" + ln.Addr().String()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("passwordsafe-sim listening", "url", root, "api_url", root+pstest.APIBasePath,
		"world", worldName(o.world), "clock", o.clock, "control", root+"/_pstest/")
	if o.readyFile != "" {
		if err := writeFileAtomic(o.readyFile, []byte(root+"\n"), 0o644); err != nil {
			_ = srv.Close()
			return fmt.Errorf("write -ready-file: %w", err)
		}
		defer os.Remove(o.readyFile)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("passwordsafe-sim shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Files -write-client-cert writes.
const (
	clientCertFile = "client.pem"
	clientKeyFile  = "client-key.pem"
	clientCAFile   = "client-ca.pem"
)

// writeClientCert writes a client certificate from s's client CA, valid
// for a year, with its key (0600) and the CA certificate, into dir. The CA
// is fresh per run: the files work with this run only.
func writeClientCert(s *pstest.Server, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	certPEM, keyPEM, err := s.IssueClientCert("vault-demo-client", time.Time{}, time.Time{})
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{clientKeyFile, keyPEM, 0o600},
		{clientCertFile, certPEM, 0o644},
		{clientCAFile, s.ClientCA().CertPEM(), 0o644},
	} {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

func worldName(path string) string {
	if path == "" {
		return "demo"
	}
	return path
}

func uniq(in ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// writeFileAtomic writes via a temporary file and a rename, so a script
// polling for the file never reads half of it.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".passwordsafe-sim-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// printEnv prints shell export lines for scripts:
//
//	PSSIM_URL, PSSIM_API_URL, PSSIM_API_KEY (a registration without password),
//	PSSIM_API_KEY_WITH_PASSWORD (one that needs it), PSSIM_RUN_AS and
//	PSSIM_RUN_AS_PASSWORD (svc-vault, else the first requestor),
//	PSSIM_CLIENT_ID / PSSIM_CLIENT_SECRET (first OAuth client),
//	PSSIM_API_KEY_WITH_CLIENT_CERT (one that needs a client certificate),
//	PSSIM_CA_CERT (the -cert-out path, with -tls), PSSIM_CLIENT_CERT and
//	PSSIM_CLIENT_KEY (the -write-client-cert files), and
//	PSSIM_USER_<NAME>_PASSWORD for every user.
func printEnv(out io.Writer, c pstest.Credentials, root, certOut, clientCertDir string) error {
	vars := map[string]string{
		"PSSIM_URL":     root,
		"PSSIM_API_URL": c.APIURL,
	}
	for _, r := range c.APIRegistrations {
		name := "PSSIM_API_KEY"
		switch {
		case r.RequireClientCert:
			name = "PSSIM_API_KEY_WITH_CLIENT_CERT"
		case r.RequirePassword:
			name = "PSSIM_API_KEY_WITH_PASSWORD"
		}
		if _, ok := vars[name]; !ok {
			vars[name] = r.Key
		}
	}
	if len(c.OAuthClients) > 0 {
		vars["PSSIM_CLIENT_ID"] = c.OAuthClients[0].ClientID
		vars["PSSIM_CLIENT_SECRET"] = c.OAuthClients[0].ClientSecret
	}
	var runAs *pstest.CredentialsUserInfo
	for i, u := range c.Users {
		if u.Name == pstest.DemoUserSvcVault {
			runAs = &c.Users[i]
			break
		}
		if runAs == nil && hasRequestorRole(u.Roles) {
			runAs = &c.Users[i]
		}
	}
	if runAs != nil {
		vars["PSSIM_RUN_AS"] = runAs.Name
		vars["PSSIM_RUN_AS_PASSWORD"] = runAs.Password
	}
	for _, u := range c.Users {
		vars["PSSIM_USER_"+envName(u.Name)+"_PASSWORD"] = u.Password
	}
	if certOut != "" {
		vars["PSSIM_CA_CERT"] = certOut
	}
	if clientCertDir != "" {
		vars["PSSIM_CLIENT_CERT"] = filepath.Join(clientCertDir, clientCertFile)
		vars["PSSIM_CLIENT_KEY"] = filepath.Join(clientCertDir, clientKeyFile)
	}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, err := fmt.Fprintf(out, "export %s=%s\n", k, shellQuote(vars[k])); err != nil {
			return err
		}
	}
	return nil
}

func hasRequestorRole(roles []string) bool {
	for _, r := range roles {
		if strings.EqualFold(r, pstest.RoleRequestor) || strings.EqualFold(r, pstest.RoleRequestorApprover) {
			return true
		}
	}
	return false
}

// envName turns a user name (maybe DOMAIN\name) into an env var fragment.
func envName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Package testproxy is a small HTTP CONNECT forward proxy for tests: it
// listens on loopback, over plain HTTP or TLS (an https:// proxy, with a
// certificate of its own), optionally demands basic proxy authentication,
// counts the tunnels it opens, the requests it refuses and the client
// certificates presented to it, and can send every tunnel to one address
// whatever host the client names (so a test can reach a loopback server
// under a made-up host name, which proxy settings from the environment do
// not exempt the way they exempt loopback).
package testproxy

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Proxy.
type Options struct {
	// Username and Password, when Username is set, are the credentials
	// every CONNECT must carry (Proxy-Authorization: Basic); otherwise 407.
	Username, Password string
	// Target, when set, is the host:port every tunnel is dialled to,
	// whatever the CONNECT asked for.
	Target string
	// TLS makes it an https:// proxy: it speaks TLS with a self-signed
	// certificate for 127.0.0.1 only (CACertPEM; not "localhost"), and
	// requests, without requiring, a client certificate (ClientCerts
	// counts those presented).
	TLS bool
	// EchoAuth makes a 407 echo, in its status line, the
	// Proxy-Authorization the CONNECT carried (as a careless proxy might).
	EchoAuth bool
}

// Proxy is a running CONNECT proxy. Close it when done.
type Proxy struct {
	URL  string // http://127.0.0.1:port (https:// with Options.TLS)
	Addr string // 127.0.0.1:port
	// CACertPEM is the proxy's self-signed certificate (with Options.TLS),
	// the root to trust it by.
	CACertPEM []byte

	opts        Options
	srv         *http.Server
	tunnels     atomic.Int64
	refused     atomic.Int64
	clientCerts atomic.Int64

	mu    sync.Mutex
	hosts []string
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Start starts a proxy on 127.0.0.1 (a free port).
func Start(o Options) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), opts: o, conns: map[net.Conn]struct{}{}}
	p.URL = "http://" + p.Addr
	if o.TLS {
		cert, certPEM, err := selfSigned()
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		p.URL, p.CACertPEM = "https://"+p.Addr, certPEM
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert,
			NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// selfSigned is a P-256 certificate for 127.0.0.1, valid for a day.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "testproxy"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("testproxy: certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// ClientCerts is how many requests came over a TLS connection on which the
// client presented a certificate (Options.TLS).
func (p *Proxy) ClientCerts() int { return int(p.clientCerts.Load()) }

// Tunnels is how many CONNECT tunnels the proxy opened.
func (p *Proxy) Tunnels() int { return int(p.tunnels.Load()) }

// Refused is how many CONNECTs it answered 407.
func (p *Proxy) Refused() int { return int(p.refused.Load()) }

// Hosts are the host:port the CONNECTs named, in order.
func (p *Proxy) Hosts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hosts...)
}

// Close stops the proxy and cuts every open tunnel.
func (p *Proxy) Close() {
	_ = p.srv.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		p.clientCerts.Add(1)
	}
	if r.Method != http.MethodConnect {
		http.Error(w, "testproxy: only CONNECT", http.StatusMethodNotAllowed)
		return
	}
	if p.opts.Username != "" {
		u, pw, ok := (&http.Request{Header: http.Header{"Authorization": r.Header.Values("Proxy-Authorization")}}).BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(p.opts.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(pw), []byte(p.opts.Password)) != 1 {
			p.refused.Add(1)
			if p.opts.EchoAuth {
				p.echo(w, r.Header.Get("Proxy-Authorization"))
				return
			}
			w.Header().Set("Proxy-Authenticate", `Basic realm="testproxy"`)
			http.Error(w, "testproxy: proxy authentication required", http.StatusProxyAuthRequired)
			return
		}
	}
	p.mu.Lock()
	p.hosts = append(p.hosts, r.Host)
	p.mu.Unlock()
	target := r.Host
	if p.opts.Target != "" {
		target = p.opts.Target
	}
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		http.Error(w, "testproxy: cannot reach the target", http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		_ = up.Close()
		http.Error(w, "testproxy: cannot hijack", http.StatusInternalServerError)
		return
	}
	down, rw, err := hj.Hijack()
	if err != nil {
		_ = up.Close()
		return
	}
	if _, err := down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		_ = up.Close()
		_ = down.Close()
		return
	}
	p.tunnels.Add(1)
	if !p.track(up, down) {
		return
	}
	p.wg.Add(2)
	go p.pipe(up, rw.Reader, down)
	go p.pipe(down, up, up)
}

// echo answers 407 with auth in the status line.
func (p *Proxy) echo(w http.ResponseWriter, auth string) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, auth, http.StatusProxyAuthRequired)
		return
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = fmt.Fprintf(c, "HTTP/1.1 407 Denied (you sent %s)\r\nProxy-Authenticate: Basic realm=\"testproxy\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", auth)
}

// track registers a tunnel's connections; false (both closed) when the
// proxy is closing.
func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies src (read through r, which may hold buffered bytes) to dst,
// then closes both ends of the tunnel.
func (p *Proxy) pipe(dst net.Conn, r io.Reader, src net.Conn) {
	defer p.wg.Done()
	if br, ok := r.(*bufio.Reader); ok && br.Buffered() == 0 {
		r = src
	}
	_, _ = io.Copy(dst, r)
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

package backend_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// demoSecret is the demo world's secret with this ID.
func demoSecret(t *testing.T, id string) pstest.Secret {
	t.Helper()
	for _, s := range pstest.DemoWorld().Secrets {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no demo secret %s", id)
	return pstest.Secret{}
}

// markSecretsSafeValues adds every value of the demo Secrets Safe to what
// must never be logged.
func markSecretsSafeValues(te *testEnv) {
	for _, s := range pstest.DemoWorld().Secrets {
		te.secret(s.Password)
		te.secret(s.Text)
		te.secret(s.FileContent)
	}
}

// Reading a secret by folder path and title, and by ID: credential, text
// and file; no lease; the file downloaded only for a file secret.
func TestSecretsSafeRead(t *testing.T) {
	te := newTestBackend(t)
	markSecretsSafeValues(te)
	cases := []struct {
		name, path, id string
		want           map[string]interface{}
		downloads      int
	}{
		{"credential", "Team/DB/postgres-admin", pstest.DemoSecretDBAdmin,
			map[string]interface{}{"type": "credential", "username": "pgadmin", "password": demoSecret(t, pstest.DemoSecretDBAdmin).Password}, 0},
		{"text, title with a space", "Team/DB/connection string", pstest.DemoSecretDBConn,
			map[string]interface{}{"type": "text", "text": demoSecret(t, pstest.DemoSecretDBConn).Text}, 0},
		{"file", "Team/Web/nginx.conf", pstest.DemoSecretWebConf,
			map[string]interface{}{"type": "file", "file_name": "nginx.conf", "size": len(demoSecret(t, pstest.DemoSecretWebConf).FileContent),
				"content_base64": base64.StdEncoding.EncodeToString([]byte(demoSecret(t, pstest.DemoSecretWebConf).FileContent))}, 1},
		{"second root folder", "Finance/bank-export.csv", pstest.DemoSecretBankFile,
			map[string]interface{}{"type": "file", "file_name": "bank-export.csv", "folder_path": "Finance"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			te := te.sub(t)
			for _, path := range []string{"secrets-safe/secret/" + tc.path, "secrets-safe/id/" + tc.id} {
				te.srv.Inspect().ResetCalls()
				resp := te.mustOK(te.read(path))
				if resp.Secret != nil || resp.Data["lease_id"] != nil {
					t.Fatalf("%s: a Secrets Safe read carries no lease: %#v", path, resp.Secret)
				}
				if resp.Data["id"] != tc.id {
					t.Fatalf("%s: id %v, want %s", path, resp.Data["id"], tc.id)
				}
				for k, v := range tc.want {
					if resp.Data[k] != v {
						t.Errorf("%s: %s = %v, want %v", path, k, resp.Data[k], v)
					}
				}
				if got := te.srv.Inspect().Calls(pstest.EndpointSecretFileDownload); got != tc.downloads {
					t.Errorf("%s: %d file downloads, want %d", path, got, tc.downloads)
				}
			}
		})
	}
	if te.srv.Inspect().Calls(pstest.EndpointCreateRequest) != 0 {
		t.Error("a Secrets Safe read created a release request")
	}
}

// Errors: what does not exist, what the run-as user may not see, malformed
// paths and IDs, and a user without the Secrets Safe permission.
func TestSecretsSafeErrors(t *testing.T) {
	cases := []struct {
		name, runAs, op, path string
		status                int
		substr                string
	}{
		{"no such title", "", "read", "secrets-safe/secret/Team/DB/nope", http.StatusNotFound, `no such secret that run-as user "svc-vault"`},
		{"no such folder", "", "read", "secrets-safe/secret/Team/Nope/postgres-admin", http.StatusNotFound, "no such secret"},
		{"title in the wrong folder", "", "read", "secrets-safe/secret/Team/Web/postgres-admin", http.StatusNotFound, "no such secret"},
		// Vault policies match the path as spelled, Password Safe ignores
		// case: only Password Safe's own spelling reads, so a policy that
		// denies Finance/ cannot be passed as finance/ or FINANCE/.
		{"folder spelled in another case", "", "read", "secrets-safe/secret/finance/payroll-api", http.StatusNotFound, "no such secret"},
		{"folder spelled in capitals", "", "read", "secrets-safe/secret/FINANCE/payroll-api", http.StatusNotFound, "no such secret"},
		{"title spelled in another case", "", "read", "secrets-safe/secret/Team/DB/POSTGRES-ADMIN", http.StatusNotFound, "no such secret"},
		{"folder not shared with the run-as user", pstest.DemoUserAlice, "read", "secrets-safe/secret/Finance/payroll-api", http.StatusNotFound, `"alice"`},
		{"ID not shared with the run-as user", pstest.DemoUserAlice, "read", "secrets-safe/id/" + pstest.DemoSecretPayroll, http.StatusNotFound, "not found in Password Safe"},
		{"unknown ID", "", "read", "secrets-safe/id/7e4c9d20-5b13-4f6a-8c02-0000000000ff", http.StatusNotFound, "not found in Password Safe"},
		{"malformed ID", "", "read", "secrets-safe/id/12345", http.StatusBadRequest, "GUID"},
		{"no folder", "", "read", "secrets-safe/secret/postgres-admin", http.StatusBadRequest, "<folder path>/<title>"},
		{"no title", "", "read", "secrets-safe/secret/Team/DB/", http.StatusBadRequest, "<folder path>/<title>"},
		{"empty folder name", "", "read", "secrets-safe/secret/Team//DB/x", http.StatusBadRequest, `path: folder path "Team//DB" has an empty folder name`},
		// Vault matches policies on the path as written: a "." or ".."
		// must not let Team/DB/../../Finance pass for a Team/DB path.
		{"dot folder name", "", "read", "secrets-safe/secret/Team/./DB/postgres-admin", http.StatusBadRequest, `path: folder path "Team/./DB" must not have "." or ".."`},
		{"dot-dot folder name", "", "read", "secrets-safe/secret/Team/DB/../../Finance/payroll-api", http.StatusBadRequest, `path: folder path "Team/DB/../../Finance" must not have "." or ".."`},
		{"dot-dot at the start", "", "read", "secrets-safe/secret/../Finance/payroll-api", http.StatusBadRequest, `must not have "." or ".."`},
		{"dot-dot in a list", "", "list", "secrets-safe/secrets/Team/DB/../../Finance/", http.StatusBadRequest, `folder: folder path "Team/DB/../../Finance" must not have "." or ".."`},
		{"dot in a list", "", "list", "secrets-safe/secrets/./Finance", http.StatusBadRequest, `folder: folder path "./Finance" must not have`},
		{"empty folder name in a list", "", "list", "secrets-safe/secrets/Team//DB/", http.StatusBadRequest, `folder: folder path "Team//DB" has an empty folder name`},
		// A leading or trailing "/" is an empty name too: secret//Finance/x
		// does not match a policy on secret/Finance/*.
		{"leading slash", "", "read", "secrets-safe/secret//Finance/payroll-api", http.StatusBadRequest, `path: folder path "/Finance" has an empty folder name`},
		{"slash before the title", "", "read", "secrets-safe/secret/Finance//payroll-api", http.StatusBadRequest, `path: folder path "Finance/" has an empty folder name`},
		{"leading slash in a list", "", "list", "secrets-safe/secrets//Finance", http.StatusBadRequest, `folder: folder path "/Finance" has an empty folder name`},
		{"leading slash in a paged list", "", "read", "secrets-safe/secrets//Finance/", http.StatusBadRequest, `folder: folder path "/Finance" has an empty folder name`},
		{"only a slash in a list", "", "list", "secrets-safe/secrets//", http.StatusBadRequest, `folder: folder path "/" has an empty folder name`},
		{"two trailing slashes in a list", "", "list", "secrets-safe/secrets/Finance//", http.StatusBadRequest, `folder: folder path "Finance/" has an empty folder name`},
		{"title too long", "", "read", "secrets-safe/secret/Team/" + strings.Repeat("t", 257), http.StatusBadRequest, "title is longer than 256"},
		{"limit too large", "", "list", "secrets-safe/secrets/Team/DB/", http.StatusBadRequest, "limit must be between"},
		{"no Secrets Safe permission", pstest.DemoUserBob, "read", "secrets-safe/secret/Team/DB/postgres-admin", http.StatusForbidden, "denied"},
		{"no Secrets Safe permission, folders", pstest.DemoUserBob, "list", "secrets-safe/folders/", http.StatusForbidden, "denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []opt
			if tc.runAs != "" {
				opts = append(opts, withConfig(map[string]interface{}{"run_as": tc.runAs}))
			}
			te := newTestBackend(t, opts...)
			markSecretsSafeValues(te)
			var op logical.Operation = logical.ReadOperation
			var data map[string]interface{}
			if tc.op == "list" {
				op = logical.ListOperation
				if tc.name == "limit too large" {
					data = map[string]interface{}{"limit": 1001}
				}
			}
			resp, err := te.do(te.req(op, tc.path, data))
			te.mustFail(resp, err, tc.status, tc.substr)
		})
	}
}

// The run-as user comes from the caller's identity, as for every other
// path: alice sees Team, not Finance; dave sees both.
func TestSecretsSafeRunAsIdentity(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"run_as_source": "entity_name"}))
	markSecretsSafeValues(te)
	alice, dave := person(pstest.DemoUserAlice), person(pstest.DemoUserDave)
	withIdentity(te, alice, dave)
	te.mustOK(te.as(alice.ID, logical.ReadOperation, "secrets-safe/secret/Team/DB/postgres-admin", nil))
	resp, err := te.as(alice.ID, logical.ReadOperation, "secrets-safe/secret/Finance/payroll-api", nil)
	te.mustFail(resp, err, http.StatusNotFound, `"alice"`)
	resp = te.mustOK(te.as(dave.ID, logical.ReadOperation, "secrets-safe/secret/Finance/payroll-api", nil))
	if resp.Data["username"] != "payroll" {
		t.Fatalf("dave read %v", resp.Data["username"])
	}
	// No identity: no fallback to the config's user for secrets.
	resp, err = te.as("", logical.ReadOperation, "secrets-safe/secret/Team/DB/postgres-admin", nil)
	te.mustFail(resp, err, http.StatusForbidden, "no identity entity")

	folders := te.mustOK(te.as(alice.ID, logical.ListOperation, "secrets-safe/folders/", nil))
	if got := strings.Join(listKeys(t, folders), ","); got != "Team,Team/DB,Team/Web" {
		t.Fatalf("alice's folders: %s", got)
	}
}

// A folder list longer than client.MaxPages pages is a 502, never the
// first pages passed off as every folder.
func TestSecretsSafeFoldersTooManyPages(t *testing.T) {
	te := newTestBackend(t)
	te.e.SetFoldersPageSize(1)
	for i := 4; i <= client.MaxPages; i++ {
		te.srv.Edit().AddFolder(pstest.Folder{ID: fmt.Sprintf("5e1a7c3f-0000-4000-8000-%012d", i), Name: fmt.Sprintf("f%04d", i), Readers: []string{"*"}})
	}
	resp, err := te.do(te.req(logical.ListOperation, "secrets-safe/folders/", nil))
	te.mustFail(resp, err, http.StatusBadGateway, "more than 1000 pages (page size 1)")
	if got := te.srv.Inspect().Calls(pstest.EndpointSecretsSafeFolders); got != client.MaxPages {
		t.Fatalf("%d calls of GET Secrets-Safe/Folders, want %d", got, client.MaxPages)
	}
}

// Folders: every page walked, keys are folder paths.
func TestSecretsSafeFolders(t *testing.T) {
	for _, pageSize := range []int{0, 1, 2, 4} {
		t.Run(fmt.Sprintf("page size %d", pageSize), func(t *testing.T) {
			te := newTestBackend(t)
			te.e.SetFoldersPageSize(pageSize)
			resp := te.mustOK(te.do(te.req(logical.ListOperation, "secrets-safe/folders/", nil)))
			if got := strings.Join(resp.Data["keys"].([]string), ","); got != "Finance,Team,Team/DB,Team/Web" {
				t.Fatalf("keys %s", got)
			}
			db := keyInfo(t, resp, "Team/DB")
			if db["id"] != pstest.DemoFolderTeamDB || db["parent_id"] != pstest.DemoFolderTeam || db["name"] != "DB" {
				t.Fatalf("Team/DB: %v", db)
			}
			if keyInfo(t, resp, "Team")["parent_id"] != "" {
				t.Fatal("a root folder has a parent")
			}
			// 4 folders: pages of n until a short one.
			want := 1
			if pageSize > 0 {
				want = 4/pageSize + 1
			}
			if got := te.srv.Inspect().Calls(pstest.EndpointSecretsSafeFolders); got != want {
				t.Fatalf("%d calls of GET Secrets-Safe/Folders, want %d", got, want)
			}
		})
	}
}

// Listing a folder's secrets: titles, no values, paging by limit and
// offset, the total from the version 3.2 page, and the bare array of older
// servers (no total).
func TestSecretsSafeListPaging(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			te := newTestBackend(t)
			markSecretsSafeValues(te)
			te.srv.Edit().SetSecretsListLegacy(legacy)
			var want []string
			for i := 0; i < 7; i++ {
				title := fmt.Sprintf("extra-%d", i)
				pw := fmt.Sprintf("Extra-Secret-%d!", i)
				te.secret(pw)
				te.srv.Edit().AddSecret(pstest.Secret{ID: fmt.Sprintf("9a000000-0000-4000-8000-%012d", i), FolderID: pstest.DemoFolderTeamDB,
					Title: title, Type: pstest.SecretCredential, Username: "u", Password: pw})
				want = append(want, title)
			}
			want = append(want, "connection string", "postgres-admin")
			var got []string
			for offset := 0; ; offset += 3 {
				var op logical.Operation = logical.ListOperation
				path := "secrets-safe/secrets/Team/DB/"
				if offset == 3 {
					op, path = logical.ReadOperation, "secrets-safe/secrets/Team/DB" // the CLI's read
				}
				resp := te.mustOK(te.do(te.req(op, path, map[string]interface{}{"limit": 3, "offset": offset})))
				keys, _ := resp.Data["keys"].([]string)
				total, has := resp.Data["total_count"]
				if legacy == has {
					t.Fatalf("legacy=%v: total_count %v present=%v", legacy, total, has)
				}
				if !legacy && total != 9 {
					t.Fatalf("total_count %v, want 9", total)
				}
				for _, k := range keys {
					info := keyInfo(t, resp, k)
					if _, ok := info["password"]; ok {
						t.Fatal("a list shows a value")
					}
					if info["folder_path"] != "Team/DB" || info["id"] == "" {
						t.Fatalf("%s: %v", k, info)
					}
				}
				got = append(got, keys...)
				if len(keys) < 3 {
					break
				}
			}
			if strings.Join(sortedCopy(got), ",") != strings.Join(sortedCopy(want), ",") || len(got) != 9 {
				t.Fatalf("pages gave %v, want %v", got, want)
			}
			// Every secret the run-as user may read, and an empty folder.
			all := te.mustOK(te.do(te.req(logical.ListOperation, "secrets-safe/secrets/", nil)))
			if n := len(all.Data["keys"].([]string)); n != 12 {
				t.Fatalf("%d secrets in all, want 12: %v", n, all.Data["keys"])
			}
			if _, ok := keyInfo(t, all, "Finance/payroll-api")["type"]; !ok {
				t.Fatal("no type")
			}
			empty := te.mustOK(te.do(te.req(logical.ListOperation, "secrets-safe/secrets/Team/", nil)))
			if keys, _ := empty.Data["keys"].([]string); len(keys) != 0 {
				t.Fatalf("Team holds no secret itself: %v", keys)
			}
		})
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// A file secret larger than the cap is refused with a clear error and
// without reading it (the simulator declares its length), and the call is
// not repeated; one at the cap is returned.
func TestSecretsSafeFileCap(t *testing.T) {
	te := newTestBackend(t)
	big := strings.Repeat("x", 5<<20+1)
	te.srv.Edit().AddSecret(pstest.Secret{ID: "9b000000-0000-4000-8000-000000000001", FolderID: pstest.DemoFolderTeamWeb,
		Title: "big.bin", Type: pstest.SecretFile, FileName: "big.bin", FileContent: big})
	resp, err := te.read("secrets-safe/secret/Team/Web/big.bin")
	te.mustFail(resp, err, http.StatusBadRequest, "larger than the 5242880 bytes", "5242881 bytes", "read it from Password Safe directly")
	if n := te.srv.Inspect().Calls(pstest.EndpointSecretFileDownload); n != 1 {
		t.Fatalf("%d downloads of a file over the cap, want 1 (no retry)", n)
	}

	te.e.SetMaxFileBytes(16)
	for _, tc := range []struct {
		content string
		ok      bool
	}{{strings.Repeat("s", 16), true}, {strings.Repeat("s", 17), false}} {
		id := fmt.Sprintf("9b000000-0000-4000-8000-%012d", len(tc.content))
		te.secret(tc.content)
		te.srv.Edit().AddSecret(pstest.Secret{ID: id, FolderID: pstest.DemoFolderTeamWeb,
			Title: id, Type: pstest.SecretFile, FileName: "f", FileContent: tc.content})
		resp, err := te.read("secrets-safe/id/" + id)
		if tc.ok {
			te.mustOK(resp, err)
			if resp.Data["size"] != 16 {
				t.Fatalf("size %v", resp.Data["size"])
			}
		} else {
			te.mustFail(resp, err, http.StatusBadRequest, "larger than the 16 bytes")
		}
	}
}

// policyAllows is Vault's ACL path matching for one policy path: a
// trailing * matches any suffix, + one path segment.
func policyAllows(policyPath, reqPath string) bool {
	if strings.HasSuffix(policyPath, "*") {
		prefix := strings.TrimSuffix(policyPath, "*")
		return len(reqPath) >= len(prefix) && segmentsMatch(prefix, reqPath[:len(prefix)])
	}
	return segmentsMatch(policyPath, reqPath)
}

func segmentsMatch(pattern, path string) bool {
	ps, rs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(rs) {
		return false
	}
	for i := range ps {
		if ps[i] != "+" && ps[i] != rs[i] {
			return false
		}
	}
	return true
}

// The folder path is part of the Vault path: each secret is read at
// secrets-safe/secret/<its folder path>/<title>, so a policy on one
// folder's prefix governs that folder's secrets and no other's.
func TestSecretsSafeVaultPathsCarryTheFolder(t *testing.T) {
	te := newTestBackend(t)
	markSecretsSafeValues(te)
	allowDB := testMount + "secrets-safe/secret/Team/DB/*"
	allowDBList := testMount + "secrets-safe/secrets/Team/DB/"
	for _, s := range pstest.DemoWorld().Secrets {
		list := te.mustOK(te.do(te.req(logical.ListOperation, "secrets-safe/secrets/", nil)))
		var folderPath string
		for k := range list.Data["key_info"].(map[string]interface{}) {
			if info := keyInfo(t, list, k); info["id"] == s.ID {
				folderPath = info["folder_path"].(string)
			}
		}
		path := "secrets-safe/secret/" + folderPath + "/" + s.Title
		resp := te.mustOK(te.read(path))
		if resp.Data["id"] != s.ID {
			t.Fatalf("%s read %v, want %s", path, resp.Data["id"], s.ID)
		}
		inDB := s.FolderID == pstest.DemoFolderTeamDB
		if got := policyAllows(allowDB, testMount+path); got != inDB {
			t.Errorf("policy %q on %s: allowed %v, want %v", allowDB, path, got, inDB)
		}
		listPath := testMount + "secrets-safe/secrets/" + folderPath + "/"
		if got := policyAllows(allowDBList, listPath); got != inDB {
			t.Errorf("policy %q on LIST %s: allowed %v, want %v", allowDBList, listPath, got, inDB)
		}
	}
	// Two folders map to two different Vault paths.
	a, b := testMount+"secrets-safe/secret/Team/DB/x", testMount+"secrets-safe/secret/Finance/x"
	if policyAllows(allowDB, b) || !policyAllows(allowDB, a) {
		t.Fatal("a policy on Team/DB does not tell Team/DB from Finance")
	}
}

// A list of a folder spelled otherwise than in Password Safe is empty, so a
// policy that denies listing Finance/ cannot be passed as finance/.
func TestSecretsSafeListNeedsExactSpelling(t *testing.T) {
	te := newTestBackend(t)
	markSecretsSafeValues(te)
	exact := te.mustOK(te.do(te.req(logical.ListOperation, "secrets-safe/secrets/Finance/", nil)))
	if keys, _ := exact.Data["keys"].([]string); len(keys) == 0 {
		t.Fatalf("Finance/ lists nothing: %v", exact.Data)
	}
	for _, p := range []string{"secrets-safe/secrets/finance/", "secrets-safe/secrets/FINANCE/"} {
		resp, err := te.do(te.req(logical.ListOperation, p, nil))
		if err != nil {
			t.Fatal(err)
		}
		if resp != nil {
			if keys, _ := resp.Data["keys"].([]string); len(keys) != 0 {
				t.Fatalf("%s listed %v", p, keys)
			}
		}
	}
}

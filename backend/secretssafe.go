package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Secrets Safe reads: folders, secret lists and secrets (credential, text,
// file) as the caller's run-as user sees them. They keep no state and
// start nothing upstream that would need ending, so they carry no lease
// (see README, "Secrets Safe").

// DefaultMaxFileBytes caps a file secret the engine returns: 5 MiB, above
// the 5 MB Password Safe accepts on upload, so only a server that breaks
// its own limit (or a future larger one) meets it. A larger file is
// refused without being read.
const DefaultMaxFileBytes = 5 << 20

// FolderSeparator joins folder names in the engine's folder paths.
const FolderSeparator = "/"

type secretsSafeKnobs struct {
	foldersPage  int   // 0: client.DefaultPageSize
	maxFileBytes int64 // 0: DefaultMaxFileBytes
}

// MaxFileBytes is the largest file secret the engine returns.
func (b *Engine) MaxFileBytes() int64 {
	if b.secretsSafe.maxFileBytes > 0 {
		return b.secretsSafe.maxFileBytes
	}
	return DefaultMaxFileBytes
}

// FolderInfo is a folder with its path from the root (names joined by
// FolderSeparator); Path is "" when a folder above it is not visible to
// the run-as user, so the path cannot be known.
type FolderInfo struct {
	client.Folder
	Path string
}

// Folders lists every folder the run-as user of cl may read, walking all
// pages of GET Secrets-Safe/Folders, sorted by path.
func (b *Engine) Folders(ctx context.Context, cl *client.Client) ([]FolderInfo, error) {
	all, err := cl.AllFolders(ctx, client.FoldersQuery{Limit: b.secretsSafe.foldersPage})
	if err != nil {
		return nil, upstream("list the Secrets Safe folders", err)
	}
	byID := make(map[string]*client.Folder, len(all))
	for i := range all {
		byID[strings.ToLower(all[i].ID)] = &all[i]
	}
	out := make([]FolderInfo, 0, len(all))
	for i := range all {
		out = append(out, FolderInfo{Folder: all[i], Path: folderPath(byID, &all[i])})
	}
	sortFolders(out)
	return out, nil
}

// folderPath joins the names from the root to f, or "" when an ancestor
// is missing (or the parents loop).
func folderPath(byID map[string]*client.Folder, f *client.Folder) string {
	names := []string{f.Name}
	seen := map[string]bool{strings.ToLower(f.ID): true}
	for p := f; p.ParentID != ""; {
		key := strings.ToLower(p.ParentID)
		parent := byID[key]
		if parent == nil || seen[key] {
			return ""
		}
		seen[key] = true
		names = append(names, parent.Name)
		p = parent
	}
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	return strings.Join(names, FolderSeparator)
}

func sortFolders(fs []FolderInfo) {
	key := func(f FolderInfo) string {
		if f.Path == "" {
			return "\uffff" + f.ID
		}
		return strings.ToLower(f.Path)
	}
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && key(fs[j]) < key(fs[j-1]); j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// ListSecrets is one page of the secrets in folder (a path; "" lists every
// secret the run-as user may read), without their values.
func (b *Engine) ListSecrets(ctx context.Context, cl *client.Client, folder string, limit, offset int) (*client.SecretsPage, error) {
	page, err := cl.Secrets(ctx, client.SecretsQuery{Path: folder, Separator: FolderSeparator, Limit: limit, Offset: offset})
	if err != nil {
		if errors.Is(err, client.ErrInvalidInput) {
			return nil, &InputError{Msg: err.Error(), Err: err}
		}
		return nil, upstream(fmt.Sprintf("list the secrets of Secrets Safe folder %q", folder), err)
	}
	// Password Safe matches folder paths ignoring case, Vault policies do
	// not: a folder spelled otherwise than in Password Safe lists nothing,
	// so a policy that denies Finance/ cannot be passed as finance/.
	if folder != "" {
		for _, it := range page.Secrets {
			if !samePathSpelling(it.FolderPath, folder) {
				return &client.SecretsPage{TotalCount: 0}, nil
			}
		}
	}
	return page, nil
}

// samePathSpelling reports whether Password Safe's folder path of a secret
// is folder as spelled in the Vault path, case included. A secret without a
// folder path in the answer cannot be shown to be in folder.
func samePathSpelling(psPath, folder string) bool {
	return psPath != "" && strings.Trim(psPath, FolderSeparator) == folder
}

// SecretRead is a secret with its value: Secret.Password for a credential
// (with Secret.Username) or a text; File for a file secret.
type SecretRead struct {
	Secret client.Secret
	File   *client.SecretFile
}

// SecretByPath reads the secret titled title in folder, as the library of
// BeyondTrust does: GET Secrets-Safe/Secrets?path=&title=&separator=/
// &decrypt=true, then the file download for a file secret. No such secret
// (or none the run-as user may read) is a 404.
func (b *Engine) SecretByPath(ctx context.Context, cl *client.Client, runAs, folder, title string) (*SecretRead, error) {
	what := fmt.Sprintf("read Secrets Safe secret %q in folder %q", title, folder)
	page, err := cl.Secrets(ctx, client.SecretsQuery{Path: folder, Title: title, Separator: FolderSeparator, Decrypt: true})
	if err != nil {
		if errors.Is(err, client.ErrInvalidInput) {
			return nil, &InputError{Msg: err.Error(), Err: err}
		}
		return nil, upstream(what, err)
	}
	var found *client.Secret
	for i := range page.Secrets {
		s := &page.Secrets[i]
		// The server filtered, ignoring case; only the exact spelling is
		// this secret, since Vault matches policies by the path as spelled.
		if s.Title == title && samePathSpelling(s.FolderPath, folder) {
			found = s
			break
		}
	}
	if found == nil {
		who := "the run-as user"
		if runAs != "" {
			who = fmt.Sprintf("run-as user %q", runAs)
		}
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf(
			"cannot %s: Password Safe has no such secret that %s may read", what, who))
	}
	return b.withFile(ctx, cl, *found, what)
}

// SecretByID reads the secret with this GUID (GET Secrets-Safe/Secrets/{id},
// then the file download for a file secret).
func (b *Engine) SecretByID(ctx context.Context, cl *client.Client, id string) (*SecretRead, error) {
	what := fmt.Sprintf("read Secrets Safe secret %s", id)
	s, err := cl.Secret(ctx, id)
	if err != nil {
		if errors.Is(err, client.ErrInvalidInput) {
			return nil, &InputError{Msg: err.Error(), Err: err}
		}
		return nil, upstream(what, err)
	}
	return b.withFile(ctx, cl, *s, what)
}

func (b *Engine) withFile(ctx context.Context, cl *client.Client, s client.Secret, what string) (*SecretRead, error) {
	out := &SecretRead{Secret: s}
	if !strings.EqualFold(s.SecretType, client.SecretTypeFile) {
		return out, nil
	}
	f, err := cl.SecretFile(ctx, s.ID, b.MaxFileBytes())
	switch {
	case errors.Is(err, client.ErrFileTooLarge):
		return nil, &InputError{Err: err, Msg: fmt.Sprintf(
			"cannot %s: it is larger than the %d bytes the engine returns for a file secret; read it from Password Safe directly (%v)",
			what, b.MaxFileBytes(), err)}
	case err != nil:
		return nil, upstream(what+" (its file)", err)
	}
	out.File = f
	return out, nil
}

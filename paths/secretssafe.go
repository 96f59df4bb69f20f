package paths

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// The Secrets Safe family: folders, secret lists and secrets read as the
// caller's run-as user. The folder path is part of the Vault path, so
// Vault policies can allow one folder and deny another:
//
//	secrets-safe/folders/                  LIST  every folder (its path is the key)
//	secrets-safe/secrets/<folder path>/    LIST  the secrets of a folder (titles; READ for paging from the CLI)
//	secrets-safe/secret/<folder path>/<title>  READ  one secret with its value
//	secrets-safe/id/<secret GUID>          READ  one secret by ID (no folder in the path)
//
// Reads carry no lease (see secretssafe.go in package backend).

const secretsSafeHelpSynopsis = "Read Password Safe's Secrets Safe: folders, secrets (credential, text, file)."

const secretsSafeHelpDescription = `
Reads BeyondTrust Secrets Safe as the caller's run-as user (the config's
run_as, or the user the caller's Vault identity names; see requests/).
Password Safe decides what that user may see; Vault policies decide which
paths a token may call. The folder path is part of the Vault path:

    vault list passwordsafe/secrets-safe/folders
    vault list passwordsafe/secrets-safe/secrets/Team/DB
    vault read passwordsafe/secrets-safe/secret/Team/DB/postgres-admin
    vault read passwordsafe/secrets-safe/id/7e4c9d20-5b13-4f6a-8c02-000000000001

secret/<folder path>/<title> splits at the last "/": the title is what
follows it (a title with a "/" in it is read by ID). A credential secret
answers username and password, a text secret text, a file secret
file_name, size and content_base64 (at most 5 MiB; a larger file is
refused unread). Reads carry no lease: nothing in Password Safe is
checked out, so there is nothing for a revocation to undo.

A policy that allows one folder:

    path "passwordsafe/secrets-safe/secret/Team/DB/*"  { capabilities = ["read"] }
    path "passwordsafe/secrets-safe/secrets/Team/DB/"  { capabilities = ["list"] }

secrets-safe/id/ names no folder: grant it only to tokens that may read
every secret the run-as user can.
`

func secretsSafePaths(engine *backend.Engine) []*framework.Path {
	h := &secretsSafeHandler{engine: engine}
	attrs := func(suffix, item string) *framework.DisplayAttributes {
		return &framework.DisplayAttributes{OperationPrefix: OperationPrefix, OperationSuffix: suffix, ItemType: item}
	}
	secrets := listPath("secrets-safe/secrets(/"+framework.MatchAllRegex("folder")+")?$",
		attrs("secrets-safe-secrets", "Secrets Safe secret"), map[string]*framework.FieldSchema{
			"folder": {Type: framework.TypeString, Description: "Folder path, names joined by /; empty: every secret the run-as user may read.",
				DisplayAttrs: &framework.DisplayAttributes{Name: "Folder path"}},
			"limit": queryField(framework.TypeInt, fmt.Sprintf(
				"Most secrets to return (1 to %d; 0 or unset: Password Safe's default, 1000).", maxPageLimit), "Limit"),
			"offset": queryField(framework.TypeInt, "Secrets to skip (paging).", "Offset"),
		}, h.secrets, "List the secrets of a Secrets Safe folder", "keys are titles; no values", "limit and offset")
	ps := []*framework.Path{
		{
			Pattern:      "secrets-safe/folders/?$",
			DisplayAttrs: attrs("secrets-safe-folders", "Secrets Safe folder"),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback:     h.folders,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "list"},
					Summary:      "List the Secrets Safe folders the run-as user may read (keys are folder paths).",
				},
			},
		},
		secrets,
		h.secretPath("secrets-safe/secret/"+framework.MatchAllRegex("path"), attrs("secrets-safe-secret", "Secrets Safe secret"),
			"path", "<folder path>/<title>: the title follows the last /.", "Folder path and title",
			"Read a Secrets Safe secret by folder path and title, with its value (no lease).", secretByPath),
		h.secretPath("secrets-safe/id/"+framework.GenericNameRegex("id"), attrs("secrets-safe-secret-by-id", "Secrets Safe secret"),
			"id", "The secret's GUID.", "Secret ID",
			"Read a Secrets Safe secret by its GUID, with its value (no lease).", secretByID),
	}
	for _, p := range ps {
		p.HelpSynopsis, p.HelpDescription = secretsSafeHelpSynopsis, strings.TrimSpace(secretsSafeHelpDescription)
	}
	return ps
}

type secretsSafeHandler struct{ engine *backend.Engine }

func (h *secretsSafeHandler) session(ctx context.Context, req *logical.Request) (*client.Client, string, error) {
	cl, runAs, _, err := callerSession(ctx, h.engine, req, false)
	return cl, runAs, err
}

func (h *secretsSafeHandler) folders(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if resp := refuseRunAsOverride(req); resp != nil {
		return resp, nil
	}
	cl, _, err := h.session(ctx, req)
	if err != nil {
		return nil, err
	}
	list, err := h.engine.Folders(ctx, cl)
	if err != nil {
		return apiError(req, err)
	}
	l := newKeyedList(len(list))
	for _, f := range list {
		k := f.Path
		if k == "" {
			k = f.ID // a folder whose parent the run-as user cannot see
		}
		l.add(k, f.ID, map[string]interface{}{
			"id": f.ID, "name": f.Name, "description": f.Description, "parent_id": f.ParentID, "path": f.Path,
		})
	}
	return l.response(-1, nil), nil
}

// folderArg checks a folder path from the Vault path (field names it in
// messages): every folder name in it a name. An empty or blank name
// (Team//DB, and a leading or trailing "/", which is one too), "." or ".."
// is refused. Vault's HTTP API cleans such paths before policies apply, but
// a request that reaches the plugin otherwise was judged by a policy on
// the path as written: Team/DB/../../Finance must not pass for a folder
// under Team/DB, nor secret//Finance/x escape a policy on secret/Finance/*.
func folderArg(field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	for _, name := range strings.Split(s, "/") {
		switch {
		case strings.TrimSpace(name) == "":
			return "", fmt.Errorf("%s: folder path %q has an empty folder name", field, s)
		case name == "." || name == "..":
			return "", fmt.Errorf(`%s: folder path %q must not have "." or ".." as a folder name`, field, s)
		}
	}
	return s, nil // lengths and characters: the client checks them
}

func (h *secretsSafeHandler) secrets(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := refuseRunAsOverride(req); resp != nil {
		return resp, nil
	}
	// A list's path ends in "/" (secrets/Team/DB/): that one is no empty
	// folder name.
	folder := d.Get("folder").(string)
	if folder != "/" {
		folder = strings.TrimSuffix(folder, "/")
	}
	folder, err := folderArg("folder", folder)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	limit, offset, err := pagingArgs(d)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	cl, _, err := h.session(ctx, req)
	if err != nil {
		return nil, err
	}
	page, err := h.engine.ListSecrets(ctx, cl, folder, limit, offset)
	if err != nil {
		return apiError(req, err)
	}
	l := newKeyedList(len(page.Secrets))
	for _, s := range page.Secrets {
		l.add(relativeKey(folder, s), s.ID, secretMetadata(s))
	}
	return l.response(page.TotalCount, nil), nil
}

// relativeKey is the secret's title, prefixed by its folder path below
// folder when Password Safe listed a secret of a subfolder (or its whole
// folder path when it is elsewhere).
func relativeKey(folder string, s client.Secret) string {
	fp := strings.Trim(s.FolderPath, "/")
	switch {
	case fp == "" || strings.EqualFold(fp, folder):
		return s.Title
	case folder != "" && len(fp) > len(folder) && strings.EqualFold(fp[:len(folder)+1], folder+"/"):
		return fp[len(folder)+1:] + "/" + s.Title
	}
	return fp + "/" + s.Title
}

// secretMetadata is what a list shows of a secret (never its value).
func secretMetadata(s client.Secret) map[string]interface{} {
	return map[string]interface{}{
		"id":          s.ID,
		"title":       s.Title,
		"type":        strings.ToLower(s.SecretType),
		"description": s.Description,
		"folder_id":   s.FolderID,
		"folder_path": s.FolderPath,
		"modified_on": s.ModifiedOn,
	}
}

// secretRef names one secret: by its GUID, or by folder path and title.
type secretRef struct{ id, folder, title string }

// secretByPath reads <folder path>/<title> from the path field.
func secretByPath(d *framework.FieldData) (secretRef, error) {
	p := d.Get("path").(string)
	i := strings.LastIndex(p, "/")
	if i <= 0 || i == len(p)-1 {
		return secretRef{}, fmt.Errorf("give the secret as secrets-safe/secret/<folder path>/<title>, got %q", p)
	}
	folder, err := folderArg("path", p[:i])
	if err != nil {
		return secretRef{}, err
	}
	return secretRef{folder: folder, title: p[i+1:]}, nil
}

// secretByID reads the id field.
func secretByID(d *framework.FieldData) (secretRef, error) {
	id := d.Get("id").(string)
	if !client.ValidGUID(id) {
		return secretRef{}, errors.New("id must be a secret's GUID (8-4-4-4-12 hexadecimal digits)")
	}
	return secretRef{id: id}, nil
}

// secretPath is a path that reads one secret, named by its one field as
// ref reads it.
func (h *secretsSafeHandler) secretPath(pattern string, attrs *framework.DisplayAttributes, field, desc, name, summary string,
	ref func(*framework.FieldData) (secretRef, error)) *framework.Path {
	return &framework.Path{
		Pattern:      pattern,
		DisplayAttrs: attrs,
		Fields: map[string]*framework.FieldSchema{
			field: {Type: framework.TypeString, Required: true, Description: desc, DisplayAttrs: &framework.DisplayAttributes{Name: name}},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     h.secret(ref),
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
				Summary:      summary,
			},
		},
	}
}

// secret reads the secret ref names, with its value.
func (h *secretsSafeHandler) secret(ref func(*framework.FieldData) (secretRef, error)) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		if resp := refuseRunAsOverride(req); resp != nil {
			return resp, nil
		}
		r, err := ref(d)
		if err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
		cl, runAs, err := h.session(ctx, req)
		if err != nil {
			return nil, err
		}
		var s *backend.SecretRead
		if r.id != "" {
			s, err = h.engine.SecretByID(ctx, cl, r.id)
		} else {
			s, err = h.engine.SecretByPath(ctx, cl, runAs, r.folder, r.title)
		}
		if err != nil {
			return apiError(req, err)
		}
		return secretResponse(s), nil
	}
}

// secretResponse is a secret with its value, and no lease.
func secretResponse(s *backend.SecretRead) *logical.Response {
	data := secretMetadata(s.Secret)
	data["notes"] = s.Secret.Notes
	switch {
	case s.File != nil:
		data["file_name"] = s.File.FileName
		data["size"] = len(s.File.Content)
		data["content_base64"] = base64.StdEncoding.EncodeToString(s.File.Content)
	case strings.EqualFold(s.Secret.SecretType, client.SecretTypeCredential):
		data["username"] = s.Secret.Username
		data["password"] = s.Secret.Password
	default: // text, and any type this engine does not know
		data["text"] = s.Secret.Password
	}
	return &logical.Response{Data: data}
}

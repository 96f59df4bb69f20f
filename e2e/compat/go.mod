module github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/e2e/compat

go 1.26.2

require (
	github.com/BeyondTrust/go-client-library-passwordsafe v1.3.2
	github.com/cenkalti/backoff/v4 v4.3.0
	github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe v0.0.0-00010101000000-000000000000
)

require (
	github.com/gabriel-vasile/mimetype v1.4.13 // indirect
	github.com/go-logr/logr v1.4.3 // indirect
	github.com/go-playground/locales v0.14.1 // indirect
	github.com/go-playground/universal-translator v0.18.1 // indirect
	github.com/go-playground/validator/v10 v10.30.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/leodido/go-urn v1.4.0 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
	golang.org/x/crypto v0.50.0 // indirect
	golang.org/x/sys v0.43.0 // indirect
	golang.org/x/text v0.36.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe => ../..

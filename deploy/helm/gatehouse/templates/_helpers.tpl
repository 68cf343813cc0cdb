{{/* The chart's name, at most 63 characters. */}}
{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name, at most 63 characters. */}}
{{- define "gatehouse.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gatehouse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ include "gatehouse.chart" . }}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gatehouse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gatehouse.secretName" -}}
{{- default (include "gatehouse.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* Whether the Secret has an assertion key file. */}}
{{- define "gatehouse.hasAssertionKeys" -}}
{{- if .Values.secret.existingSecret }}
{{- if .Values.secret.existingSecretHasAssertionKeys }}true{{ end }}
{{- else if .Values.secret.assertionKeys }}true{{ end }}
{{- end }}

{{/* Whether the Secret has a Redis password. */}}
{{- define "gatehouse.hasRedisPassword" -}}
{{- if .Values.secret.existingSecret }}
{{- if .Values.secret.existingSecretHasRedisPassword }}true{{ end }}
{{- else if .Values.secret.redisPassword }}true{{ end }}
{{- end }}

{{/*
The gatehouse command line: one flag per config key that is set (name=value).
Secrets are files from the Secret mounted at /etc/gatehouse.
*/}}
{{- define "gatehouse.args" -}}
{{- $c := .Values.config -}}
- {{ printf "--listen=:%v" .Values.ports.http | quote }}
- {{ printf "--admin-listen=:%v" .Values.ports.admin | quote }}
- {{ printf "--public-url=%v" (required "config.publicURL is required, e.g. https://app.example.com" $c.publicURL) | quote }}
- {{ printf "--issuer=%v" (required "config.issuer is required, e.g. https://idp.example.com/realms/main" $c.issuer) | quote }}
- {{ printf "--client-id=%v" (required "config.clientID is required" $c.clientID) | quote }}
{{- if not .Values.secret.publicClient }}
- "--client-secret-file=/etc/gatehouse/client-secret"
{{- end }}
- "--cookie-secret-file=/etc/gatehouse/cookie-keys"
{{- if not $c.upstreams }}
{{- fail "config.upstreams needs at least one [host]/path/=URL, e.g. /=http://app:8080" }}
{{- end }}
{{- range $c.upstreams }}
- {{ printf "--upstream=%v" . | quote }}
{{- end }}
{{- with $c.scope }}
- {{ printf "--scope=%v" . | quote }}
{{- end }}
{{- range $c.rules }}
- {{ printf "--rule=%v" . | quote }}
{{- end }}
{{- if $c.defaultDeny }}
- "--default-deny=true"
{{- end }}
{{- range $c.trustedProxies }}
- {{ printf "--trusted-proxy=%v" . | quote }}
{{- end }}
{{- range $c.allowedRedirects }}
- {{ printf "--allowed-redirect=%v" . | quote }}
{{- end }}
{{- with $c.endpointPrefix }}
- {{ printf "--endpoint-prefix=%v" . | quote }}
{{- end }}
{{- with $c.groupsClaim }}
- {{ printf "--groups-claim=%v" . | quote }}
{{- end }}
{{- with $c.sessionLifetime }}
- {{ printf "--session-lifetime=%v" . | quote }}
{{- end }}
{{- with $c.postLogoutRedirectURL }}
- {{ printf "--post-logout-redirect-url=%v" . | quote }}
{{- end }}
{{- with $c.shutdownTimeout }}
- {{ printf "--shutdown-timeout=%v" . | quote }}
{{- end }}
{{- with $c.logFormat }}
- {{ printf "--log-format=%v" . | quote }}
{{- end }}
{{- with $c.logLevel }}
- {{ printf "--log-level=%v" . | quote }}
{{- end }}
{{- with $c.logFlushInterval }}
- {{ printf "--log-flush-interval=%v" . | quote }}
{{- end }}
{{- range $c.upstreamHeaders }}
- {{ printf "--upstream-header=%v" . | quote }}
{{- end }}
{{- with $c.passAuthorization }}
- {{ printf "--pass-authorization=%v" . | quote }}
{{- end }}
{{- if $c.identityAssertion }}
- "--identity-assertion=true"
{{- if include "gatehouse.hasAssertionKeys" . }}
- "--assertion-key-file=/etc/gatehouse/assertion-keys.pem"
{{- end }}
{{- else if include "gatehouse.hasAssertionKeys" . }}
{{- fail "secret.assertionKeys (or existingSecretHasAssertionKeys) is set but config.identityAssertion is false" }}
{{- end }}
{{- if $c.insecureIssuerHTTP }}
- "--insecure-issuer-http=true"
{{- end }}
{{- if $c.allowPathParams }}
- "--allow-path-params=true"
{{- end }}
{{- with $c.sessionStore }}
- {{ printf "--session-store=%v" . | quote }}
{{- end }}
{{- if and (eq $c.sessionStore "redis") (not $c.redisURL) }}
{{- fail "config.sessionStore=redis needs config.redisURL" }}
{{- end }}
{{- with $c.redisURL }}
- {{ printf "--redis-url=%v" . | quote }}
{{- end }}
{{- with $c.redisMode }}
- {{ printf "--redis-mode=%v" . | quote }}
{{- end }}
{{- if include "gatehouse.hasRedisPassword" . }}
{{- if ne $c.sessionStore "redis" }}
{{- fail "secret.redisPassword (or existingSecretHasRedisPassword) is set but config.sessionStore is not redis" }}
{{- end }}
- "--redis-password-file=/etc/gatehouse/redis-password"
{{- end }}
{{- with $c.sessionIdleTimeout }}
- {{ printf "--session-idle-timeout=%v" . | quote }}
{{- end }}
{{- with $c.sessionCacheTTL }}
- {{ printf "--session-cache-ttl=%v" . | quote }}
{{- end }}
{{- if .Values.tls.secretName }}
- "--tls-cert-file=/etc/gatehouse-tls/tls.crt"
- "--tls-key-file=/etc/gatehouse-tls/tls.key"
{{- end }}
{{- range $c.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

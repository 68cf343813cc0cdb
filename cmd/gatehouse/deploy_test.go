package main

// Checks of the packaging and deployment files against the program: the
// flags and GATEHOUSE_* variables that the Dockerfile, deploy/ (Kubernetes
// manifests, Helm chart), contrib/systemd and the README name exist; the
// Helm templates parse; every metric the Grafana dashboard and the
// Prometheus alerts use is exported; the Dockerfile builds what it runs.
// Neither Docker nor Helm is needed: these are the checks that catch drift
// between the code and files no other test executes.

import (
	"bufio"
	"encoding/json"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template"
)

// repoRoot is the repository, seen from this package's directory (go test
// runs tests there).
const repoRoot = "../.."

// gatehouseFlags returns every flag name the program takes, with the ones
// package flag answers itself.
func gatehouseFlags() map[string]bool {
	names := map[string]bool{"help": true, "h": true}
	newFlagSet("gatehouse", &config{}, io.Discard).VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}

// gatehouseEnv returns every GATEHOUSE_* variable the program reads: one
// per flag, and the secrets read straight from the environment
// (GATEHOUSE_CLIENT_SECRET, ...), found as string literals in the
// command's sources.
func gatehouseEnv(t *testing.T) map[string]bool {
	t.Helper()
	env := map[string]bool{}
	for name := range gatehouseFlags() {
		env[envName(name)] = true
	}
	literal := regexp.MustCompile(`"(GATEHOUSE_[A-Z0-9_]*[A-Z0-9])"`)
	sources, _ := filepath.Glob("*.go")
	for _, p := range sources {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			env[m[1]] = true
		}
	}
	if !env["GATEHOUSE_CLIENT_SECRET"] || !env["GATEHOUSE_COOKIE_SECRET"] {
		t.Fatal("the secrets' environment variables were not found in the sources")
	}
	return env
}

// foreignCommands are programs (and Dockerfile instructions) whose own
// options appear in the deployment files and docs: `kubectl ... --from-file`,
// `helm install ... --set`, `FROM --platform=...`.
var foreignCommands = map[string]bool{
	"kubectl": true, "helm": true, "openssl": true, "printf": true, "echo": true,
	"systemctl": true, "systemd-analyze": true, "systemd-creds": true, "journalctl": true,
	"docker": true, "podman": true, "buildah": true, "go": true, "git": true,
	"curl": true, "wget": true, "apt-get": true, "install": true, "chmod": true,
	"chown": true, "mkdir": true, "nginx": true, "traefik": true, "caddy": true, "promtool": true,
	"FROM": true, "RUN": true, "COPY": true, "ADD": true,
}

var (
	flagStart  = regexp.MustCompile(`--[a-z][a-z0-9-]*[a-z0-9]`)
	envToken   = regexp.MustCompile(`\bGATEHOUSE_[A-Z0-9_]*[A-Z0-9]\b`)
	envAssign  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	segmentSep = regexp.MustCompile("`|\\|\\||&&|[|;(]|\\$\\(")
)

// gatehouseFlagTokens returns the --flag names in text that are meant for
// gatehouse. The rule, applied to each logical line (backslash continuations
// joined):
//
//   - A token is "--name" preceded by the start, a blank, a quote, a
//     backtick, '[', '(' or ',' and followed by the end, a blank, '=', a
//     quote, a backtick or punctuation. So "---", "x--y" and URLs never
//     count.
//   - The line is cut into segments at backticks, pipes, ';', '&&', '||'
//     and '(' (a shell command or a Markdown code span each start one).
//   - A segment whose command word (the first word after comment markers,
//     prompts, sudo/exec/env and VAR=value assignments) is a known other
//     program (foreignCommands) belongs to that program and is skipped.
//     Every other segment — YAML args, unit files, prose, `gatehouse ...`
//     command lines — is taken as gatehouse's.
//
// Strict by default: an unknown option fails the test until it is either
// fixed or its command is named in foreignCommands.
func gatehouseFlagTokens(text string) []string {
	var out []string
	for _, line := range logicalLines(text) {
		for _, seg := range segmentSep.Split(line, -1) {
			if foreignCommands[commandWord(seg)] {
				continue
			}
			for _, loc := range flagStart.FindAllStringIndex(seg, -1) {
				if loc[0] > 0 && !strings.ContainsRune(" \t\"'`[(,", rune(seg[loc[0]-1])) {
					continue
				}
				if loc[1] < len(seg) && !strings.ContainsRune(" \t=\"'`,.:;)]}", rune(seg[loc[1]])) {
					continue
				}
				out = append(out, seg[loc[0]+2:loc[1]])
			}
		}
	}
	return out
}

// logicalLines splits text into lines, joining those that end in a
// backslash with the next.
func logicalLines(text string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(text, "\n") {
		t := strings.TrimRight(l, " \t\r")
		if strings.HasSuffix(t, `\`) {
			cur.WriteString(strings.TrimSuffix(t, `\`))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(t)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// commandWord returns the program a shell-like segment runs, or "".
func commandWord(seg string) string {
	for _, w := range strings.Fields(seg) {
		w = strings.Trim(w, "\"'")
		switch {
		case w == "" || w == "#" || w == "//" || w == "$" || w == ">" || w == "sudo" || w == "exec" || w == "env":
			continue
		case envAssign.MatchString(w) && !strings.HasPrefix(w, "--"):
			continue
		}
		return path.Base(w)
	}
	return ""
}

// deployTextFiles returns the files (relative to the repository) that
// TestDeployFlagsExist reads.
func deployTextFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "Dockerfile"}
	for _, dir := range []string{"deploy", "contrib/systemd", "contrib/grafana", "contrib/prometheus", "contrib/nginx", "contrib/traefik", "contrib/caddy"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) && p == filepath.Join(repoRoot, dir) {
					return filepath.SkipDir // an optional integration that is not there
				}
				return err
			}
			if d.Type().IsRegular() && !strings.HasSuffix(p, ".go") {
				rel, _ := filepath.Rel(repoRoot, p)
				files = append(files, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeployFlagsExist fails when a manifest, the chart, the systemd unit,
// the Dockerfile or the README names a flag or GATEHOUSE_* variable that
// gatehouse does not have (gatehouse refuses to start on an unknown flag).
func TestDeployFlagsExist(t *testing.T) {
	flags, env := gatehouseFlags(), gatehouseEnv(t)
	found := map[string]int{} // file → gatehouse flag tokens seen
	for _, rel := range deployTextFiles(t) {
		text := readRepoFile(t, rel)
		if rel == "README.md" {
			text = withoutForeignColumn(text)
		}
		for _, name := range gatehouseFlagTokens(text) {
			found[rel]++
			if !flags[name] {
				t.Errorf("%s: --%s is not a gatehouse flag", rel, name)
			}
		}
		for _, v := range envToken.FindAllString(text, -1) {
			if !env[v] {
				t.Errorf("%s: %s is not an environment variable gatehouse reads", rel, v)
			}
		}
	}
	// The scan must actually see the flags of the files that carry them; a
	// broken rule that finds nothing would pass silently otherwise.
	for rel, atLeast := range map[string]int{
		"deploy/kubernetes/reverse-proxy.yaml":         7,
		"deploy/kubernetes/sidecar.yaml":               7,
		"deploy/kubernetes/ingress-nginx.yaml":         9,
		"deploy/helm/gatehouse/templates/_helpers.tpl": 20,
		"contrib/systemd/gatehouse.service":            2,
		"README.md":                                    len(flags),
	} {
		if found[rel] < atLeast {
			t.Errorf("%s: found %d gatehouse flags, want at least %d: is the token rule broken?", rel, found[rel], atLeast)
		}
	}
	// The scanner itself: the non-existent --client-secret must count, the
	// options of other programs must not.
	if got := gatehouseFlagTokens("  - --client-secret=x\n"); !slices.Equal(got, []string{"client-secret"}) {
		t.Errorf("tokens of an args line = %q", got)
	}
	if got := gatehouseFlagTokens("kubectl create secret generic g --from-file=a \\\n  --from-file=b\n`helm install x --set a=b`, then `gatehouse --issuer=x`"); !slices.Equal(got, []string{"issuer"}) {
		t.Errorf("tokens of foreign commands = %q, want only issuer", got)
	}

	// The chart's values: every config key is used by the templates, which
	// is how it becomes a flag.
	helpers := readRepoFile(t, "deploy/helm/gatehouse/templates/_helpers.tpl")
	for _, key := range valuesKeys(t, readRepoFile(t, "deploy/helm/gatehouse/values.yaml")) {
		k, ok := strings.CutPrefix(key, "config.")
		if !ok || strings.Contains(k, ".") {
			continue
		}
		if !strings.Contains(helpers, "$c."+k+" ") && !strings.Contains(helpers, "$c."+k+")") && !strings.Contains(helpers, "$c."+k+"\n") && !strings.Contains(helpers, "$c."+k+"}") {
			t.Errorf("values.yaml: config.%s is never rendered into an argument", k)
		}
	}
	// Flags the chart has no config key for (they can still be passed in
	// config.extraArgs). Informational: new flags need not block anyone.
	var missing []string
	for name := range flags {
		if name != "help" && name != "h" && !strings.Contains(helpers, `"--`+name+"=") {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Logf("flags without a config key in the Helm chart (config.extraArgs reaches them): %s", strings.Join(missing, ", "))
	}
}

// valuesKeys returns the dotted paths of every mapping key in a values.yaml
// (block style, as the chart's is written), e.g. "config.publicURL".
func valuesKeys(t *testing.T, text string) []string {
	t.Helper()
	key := regexp.MustCompile(`^( *)([A-Za-z0-9_]+):(?:\s|$)`)
	type level struct {
		indent int
		name   string
	}
	var stack []level
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "\t") {
			t.Errorf("values.yaml: a tab in %q (YAML indents with spaces)", line)
		}
		m := key.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		indent := len(m[1])
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, level{indent, m[2]})
		var names []string
		for _, l := range stack {
			names = append(names, l.name)
		}
		out = append(out, strings.Join(names, "."))
	}
	return out
}

// helmFuncs stubs the functions Helm gives templates (its own and sprig's)
// that a chart may use. Parsing needs only their names; a template that
// calls anything else fails to parse, as it would in Helm.
func helmFuncs() template.FuncMap {
	stub := func(...any) any { return nil }
	fm := template.FuncMap{}
	for _, name := range strings.Fields(`
		include tpl required fail lookup toYaml fromYaml toJson fromJson toToml
		default empty coalesce ternary quote squote nindent indent trunc trim
		trimSuffix trimPrefix replace contains hasPrefix hasSuffix lower upper
		title nospace cat split splitList join toString int int64 float64 atoi
		add sub mul div mod max min list dict get set hasKey keys pick omit
		merge mergeOverwrite first last uniq has without append concat
		sortAlpha b64enc b64dec sha256sum randAlphaNum regexMatch kindIs typeOf
		deepCopy semverCompare toStrings until now date`) {
		fm[name] = stub
	}
	return fm
}

// TestHelmTemplatesParse parses the chart's templates as Helm would (Go
// text/template with Helm's functions), and checks what can be checked
// without rendering: every named template included exists, every
// .Values path used is declared in values.yaml, Chart.yaml is a v2 chart.
func TestHelmTemplatesParse(t *testing.T) {
	const chart = "deploy/helm/gatehouse"
	dir := filepath.Join(repoRoot, chart, "templates")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	set := template.New("chart").Funcs(helmFuncs())
	sources := map[string]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sources[e.Name()] = string(b)
		if _, err := set.New(chart + "/templates/" + e.Name()).Parse(string(b)); err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
	}
	for _, want := range []string{"_helpers.tpl", "deployment.yaml", "service.yaml", "secret.yaml", "serviceaccount.yaml", "servicemonitor.yaml", "pdb.yaml", "NOTES.txt"} {
		if _, ok := sources[want]; !ok {
			t.Errorf("templates/%s is missing", want)
		}
	}
	if t.Failed() {
		return
	}

	values := map[string]bool{}
	for _, k := range valuesKeys(t, readRepoFile(t, chart+"/values.yaml")) {
		values[k] = true
	}
	include := regexp.MustCompile(`\b(?:include|template)\s+"([^"]+)"`)
	basePath := regexp.MustCompile(`\.Template\.BasePath\s+"/([^"]+)"`)
	valuesRef := regexp.MustCompile(`\.Values((?:\.[A-Za-z0-9_]+)+)`)
	configRef := regexp.MustCompile(`\$c((?:\.[A-Za-z0-9_]+)+)`)
	for name, src := range sources {
		for _, m := range include.FindAllStringSubmatch(src, -1) {
			if set.Lookup(m[1]) == nil {
				t.Errorf("%s: includes %q, which no template defines", name, m[1])
			}
		}
		for _, m := range basePath.FindAllStringSubmatch(src, -1) {
			if _, ok := sources[m[1]]; !ok {
				t.Errorf("%s: includes templates/%s, which does not exist", name, m[1])
			}
		}
		for _, m := range valuesRef.FindAllStringSubmatch(src, -1) {
			if !values[m[1][1:]] {
				t.Errorf("%s: .Values%s is not in values.yaml", name, m[1])
			}
		}
		if strings.Contains(src, "$c := .Values.config") {
			for _, m := range configRef.FindAllStringSubmatch(src, -1) {
				if !values["config"+m[1]] {
					t.Errorf("%s: $c%s (.Values.config%[2]s) is not in values.yaml", name, m[1])
				}
			}
		}
	}

	chartYAML := readRepoFile(t, chart+"/Chart.yaml")
	for _, want := range []string{"apiVersion: v2\n", "name: gatehouse\n", "version: ", "appVersion: "} {
		if !strings.Contains(chartYAML, want) {
			t.Errorf("Chart.yaml lacks %q", want)
		}
	}
}

// TestDeployManifestsBasics checks the plain Kubernetes manifests as far as
// that goes without a YAML parser: no tabs, every document has an apiVersion
// and a kind, every gatehouse container probes the admin port it opens.
func TestDeployManifestsBasics(t *testing.T) {
	matches, err := filepath.Glob(filepath.Join(repoRoot, "deploy/kubernetes/*.yaml"))
	if err != nil || len(matches) < 4 {
		t.Fatalf("deploy/kubernetes: %d manifests (%v)", len(matches), err)
	}
	docSep := regexp.MustCompile(`(?m)^---\s*$`)
	for _, p := range matches {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(p)
		text := string(b)
		if strings.Contains(text, "\t") {
			t.Errorf("%s: contains a tab (YAML indents with spaces)", name)
		}
		for i, doc := range docSep.Split(text, -1) {
			if !regexp.MustCompile(`(?m)^apiVersion: \S`).MatchString(doc) || !regexp.MustCompile(`(?m)^kind: [A-Z]\w+`).MatchString(doc) {
				t.Errorf("%s: document %d lacks apiVersion or kind", name, i+1)
			}
		}
		if name == "secret.example.yaml" {
			continue
		}
		for _, want := range []string{
			"--client-secret-file=/etc/gatehouse/client-secret", "--cookie-secret-file=/etc/gatehouse/cookie-keys",
			"mountPath: /etc/gatehouse", "name: GATEHOUSE_ADMIN_LISTEN", `value: ":9180"`, "containerPort: 9180",
			"path: /healthz", "path: /readyz", "readOnlyRootFilesystem: true", "runAsNonRoot: true",
			"type: RuntimeDefault", `drop: ["ALL"]`, `prometheus.io/port: "9180"`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: lacks %q", name, want)
			}
		}
		if regexp.MustCompile(`port: 9180\s*\n\s*targetPort`).MatchString(text) {
			t.Errorf("%s: a Service exposes the admin port", name)
		}
	}
}

// scrapeFamilies returns the metric families of a Prometheus text
// exposition: name → type, and name → label names seen on its samples.
func scrapeFamilies(t *testing.T, body string) (map[string]string, map[string]map[string]bool) {
	t.Helper()
	types := map[string]string{}
	labels := map[string]map[string]bool{}
	labelName := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, "{")
		name = strings.Fields(name)[0]
		fam := familyOf(name, types)
		if labels[fam] == nil {
			labels[fam] = map[string]bool{}
		}
		if end := strings.LastIndex(rest, "}"); end >= 0 {
			for _, m := range labelName.FindAllStringSubmatch(rest[:end], -1) {
				labels[fam][m[1]] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return types, labels
}

// familyOf maps a series name to its family: histograms and summaries
// expose <name>_bucket, _sum and _count.
func familyOf(series string, types map[string]string) string {
	if _, ok := types[series]; ok {
		return series
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(series, suffix); ok {
			if typ := types[base]; typ == "histogram" || (typ == "summary" && suffix != "_bucket") {
				return base
			}
		}
	}
	return ""
}

// monitoringTexts returns the PromQL-bearing text of the dashboards (every
// JSON string, unescaped) and the alert rule files, by file.
func monitoringTexts(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	var dashboards, rules []string
	for _, pattern := range []string{"contrib/grafana/*.json"} {
		m, _ := filepath.Glob(filepath.Join(repoRoot, pattern))
		dashboards = append(dashboards, m...)
	}
	for _, pattern := range []string{"contrib/prometheus/*.yaml", "contrib/prometheus/*.yml"} {
		m, _ := filepath.Glob(filepath.Join(repoRoot, pattern))
		rules = append(rules, m...)
	}
	if len(dashboards) == 0 || len(rules) == 0 {
		t.Fatalf("no dashboards (%d) or alert rules (%d) found", len(dashboards), len(rules))
	}
	for _, p := range dashboards {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Errorf("%s: not JSON: %v", p, err)
			continue
		}
		checkDashboard(t, filepath.Base(p), doc)
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case string:
				out[p] = append(out[p], v)
			case []any:
				for _, e := range v {
					walk(e)
				}
			case map[string]any:
				for _, e := range v {
					walk(e)
				}
			}
		}
		walk(doc)
	}
	for _, p := range rules {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "\t") {
			t.Errorf("%s: contains a tab (YAML indents with spaces)", p)
		}
		out[p] = []string{string(b)}
	}
	return out
}

// checkDashboard checks the Grafana dashboard's shape: the data source input
// that import asks for, and every panel and query bound to it.
func checkDashboard(t *testing.T, name string, doc any) {
	d, _ := doc.(map[string]any)
	inputs, _ := d["__inputs"].([]any)
	hasInput := false
	for _, in := range inputs {
		if m, _ := in.(map[string]any); m["name"] == "DS_PROMETHEUS" && m["pluginId"] == "prometheus" {
			hasInput = true
		}
	}
	if !hasInput {
		t.Errorf("%s: no DS_PROMETHEUS data source input", name)
	}
	if v, _ := d["schemaVersion"].(float64); v < 36 {
		t.Errorf("%s: schemaVersion %v, want a current one (≥36)", name, d["schemaVersion"])
	}
	panels, _ := d["panels"].([]any)
	if len(panels) < 8 {
		t.Errorf("%s: %d panels", name, len(panels))
	}
	ids := map[float64]bool{}
	for _, p := range panels {
		pm, _ := p.(map[string]any)
		id, _ := pm["id"].(float64)
		if ids[id] {
			t.Errorf("%s: panel id %v used twice", name, id)
		}
		ids[id] = true
		targets, _ := pm["targets"].([]any)
		for _, tg := range targets {
			tm, _ := tg.(map[string]any)
			ds, _ := tm["datasource"].(map[string]any)
			if ds["uid"] != "${DS_PROMETHEUS}" {
				t.Errorf("%s: panel %q queries data source %v, not ${DS_PROMETHEUS}", name, pm["title"], ds["uid"])
			}
			if expr, _ := tm["expr"].(string); strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
				t.Errorf("%s: panel %q: unbalanced brackets in %s", name, pm["title"], expr)
			}
		}
	}
}

// declaredMetric is a collector declared in gatehouse's sources.
type declaredMetric struct {
	typ    string // counter, gauge, histogram, summary
	labels []string
}

// declaredMetrics finds the collectors the sources of dirs create with
// prometheus.New*(prometheus.*Opts{Name: ...}, []string{labels}). Vectors
// that have seen no observation yet are missing from a scrape; their
// declaration still fixes their name, type and labels.
func declaredMetrics(t *testing.T, dirs ...string) map[string]declaredMetric {
	t.Helper()
	out := map[string]declaredMetric{}
	fset := token.NewFileSet()
	str := func(e ast.Expr) (string, bool) {
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return "", false
		}
		v, err := strconv.Unquote(lit.Value)
		return v, err == nil
	}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, p, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || !strings.HasPrefix(sel.Sel.Name, "New") {
					return true
				}
				if x, _ := sel.X.(*ast.Ident); x == nil || x.Name != "prometheus" {
					return true
				}
				opts, ok := call.Args[0].(*ast.CompositeLit)
				if !ok {
					return true
				}
				var m declaredMetric
				for _, typ := range []string{"Counter", "Gauge", "Histogram", "Summary"} {
					if strings.Contains(sel.Sel.Name, typ) {
						m.typ = strings.ToLower(typ)
					}
				}
				var parts [3]string // namespace, subsystem, name
				for _, el := range opts.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					switch key, _ := kv.Key.(*ast.Ident); {
					case key == nil:
					case key.Name == "Namespace":
						parts[0], _ = str(kv.Value)
					case key.Name == "Subsystem":
						parts[1], _ = str(kv.Value)
					case key.Name == "Name":
						parts[2], _ = str(kv.Value)
					case key.Name == "ConstLabels":
						if cl, ok := kv.Value.(*ast.CompositeLit); ok {
							for _, e := range cl.Elts {
								if lkv, ok := e.(*ast.KeyValueExpr); ok {
									if l, ok := str(lkv.Key); ok {
										m.labels = append(m.labels, l)
									}
								}
							}
						}
					}
				}
				if len(call.Args) > 1 {
					if ls, ok := call.Args[1].(*ast.CompositeLit); ok {
						for _, e := range ls.Elts {
							if l, ok := str(e); ok {
								m.labels = append(m.labels, l)
							}
						}
					}
				}
				var name []string
				for _, p := range parts {
					if p != "" {
						name = append(name, p)
					}
				}
				if m.typ != "" && parts[2] != "" {
					out[strings.Join(name, "_")] = m
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestDashboardMetricsExist runs gatehouse, makes it count something, and
// checks every metric (and label) the dashboard and the alerts use against
// what /metrics exports, or, for a vector with no series yet (a store
// error that has not happened), against its declaration in the sources.
func TestDashboardMetricsExist(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, hdr := range []map[string]string{
		{"Accept": "text/html"},                      // a browser without a session: login
		{"Authorization": "Bearer not-a-real-token"}, // a machine credential: auth_total
	} {
		req, _ := http.NewRequest("GET", h.gw+"/dashboard-check", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	types, labels := scrapeFamilies(t, string(body))
	declared := declaredMetrics(t, filepath.Join(repoRoot, "proxy"), filepath.Join(repoRoot, "session"), ".")
	for _, want := range []string{"gatehouse_requests_total", "gatehouse_build_info"} {
		if _, ok := declared[want]; !ok {
			t.Fatalf("the declaration of %s was not found in the sources", want)
		}
		if _, ok := types[want]; !ok {
			t.Fatalf("/metrics has no %s:\n%s", want, body)
		}
	}
	var unscraped []string
	for name, m := range declared {
		if _, ok := types[name]; !ok {
			unscraped = append(unscraped, name)
			types[name] = m.typ
		} else if types[name] != m.typ {
			t.Errorf("%s: declared as a %s, exported as a %s", name, m.typ, types[name])
		}
		if labels[name] == nil {
			labels[name] = map[string]bool{}
		}
		for _, l := range m.labels {
			labels[name][l] = true
		}
	}
	sort.Strings(unscraped)
	t.Logf("declared, no series in this scrape yet (checked against their declaration): %v", unscraped)

	// Label values a selector may name without the scrape showing them yet
	// (an outcome that has not happened): they must at least be string
	// literals in the proxy packages, where outcomes and reasons are set.
	proxySource := proxyStringLiterals(t)
	scrapedValue := func(label, value string) bool {
		return strings.Contains(string(body), label+`="`+value+`"`)
	}

	metric := regexp.MustCompile(`\b(?:gatehouse|go|process)_[a-z0-9_]*[a-z0-9]\b`)
	selector := regexp.MustCompile(`\b((?:gatehouse|go|process)_[a-z0-9_]*[a-z0-9])\{([^}]*)\}`)
	matcher := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	grouping := regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	plainValue := regexp.MustCompile(`^[a-z_]+$`)
	anyLabel := map[string]bool{"job": true, "instance": true, "le": true}
	for _, ls := range labels {
		for l := range ls {
			anyLabel[l] = true
		}
	}

	seen := map[string]bool{}
	for file, texts := range monitoringTexts(t) {
		rel, _ := filepath.Rel(repoRoot, file)
		for _, text := range texts {
			for _, name := range metric.FindAllString(text, -1) {
				seen[name] = true
				if familyOf(name, types) == "" {
					t.Errorf("%s: metric %s is not exported by gatehouse", rel, name)
				}
			}
			for _, m := range selector.FindAllStringSubmatch(text, -1) {
				fam := familyOf(m[1], types)
				if fam == "" {
					continue // reported above
				}
				for _, mm := range matcher.FindAllStringSubmatch(m[2], -1) {
					label, op, value := mm[1], mm[2], mm[3]
					if label == "job" || label == "instance" || (label == "le" && strings.HasSuffix(m[1], "_bucket")) {
						continue
					}
					if !labels[fam][label] {
						t.Errorf("%s: %s has no label %q", rel, m[1], label)
						continue
					}
					if op == "!=" || op == "!~" || strings.HasPrefix(value, "$") {
						continue
					}
					alternatives := []string{value}
					if op == "=~" {
						alternatives = strings.Split(value, "|")
					}
					for _, v := range alternatives {
						if (op == "=" || plainValue.MatchString(v)) && !scrapedValue(label, v) && !proxySource[v] {
							t.Errorf("%s: %s{%s=%q}: gatehouse never sets that value", rel, m[1], label, v)
						}
					}
				}
			}
			for _, m := range grouping.FindAllStringSubmatch(text, -1) {
				for _, l := range strings.Split(m[1], ",") {
					if l = strings.TrimSpace(l); l != "" && !anyLabel[l] {
						t.Errorf("%s: grouping by %q, a label no gatehouse metric has", rel, l)
					}
				}
			}
		}
	}
	for _, want := range []string{
		"gatehouse_requests_total", "gatehouse_request_duration_seconds_bucket", "gatehouse_auth_total",
		"gatehouse_redirects_rejected_total", "gatehouse_build_info", "process_resident_memory_bytes", "go_goroutines",
	} {
		if !seen[want] {
			t.Errorf("the dashboard and alerts never use %s", want)
		}
	}
	var unused []string
	for name := range declared {
		used := false
		for s := range seen {
			if familyOf(s, types) == name {
				used = true
			}
		}
		if !used {
			unused = append(unused, name)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Logf("metrics neither the dashboard nor the alerts use: %v", unused)
	}
}

// proxyStringLiterals returns the string literals of the proxy packages'
// non-test sources.
func proxyStringLiterals(t *testing.T) map[string]bool {
	t.Helper()
	lit := regexp.MustCompile(`"((?:[^"\\\n]|\\.)*)"`)
	out := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(repoRoot, "proxy"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllStringSubmatch(string(b), -1) {
			if s, err := strconv.Unquote(`"` + m[1] + `"`); err == nil {
				out[s] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dockerInstr is one Dockerfile instruction, continuation lines joined.
type dockerInstr struct {
	cmd, args string
	line      int
}

func parseDockerfile(t *testing.T, text string) []dockerInstr {
	t.Helper()
	var out []dockerInstr
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(l)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		} else if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstr{strings.ToUpper(cmd), strings.TrimSpace(args), start})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Errorf("Dockerfile ends inside a continued instruction")
	}
	return out
}

// TestDockerfile checks the Dockerfile's structure, since no image is built
// in CI: two stages, a static non-root binary, the entrypoint is the file
// the build stage produced, the Go version matches go.mod, and the build
// context keeps every source file.
func TestDockerfile(t *testing.T) {
	instrs := parseDockerfile(t, readRepoFile(t, "Dockerfile"))
	var froms []dockerInstr
	stage := -1
	var buildRun, copyFrom, user, entry dockerInstr
	var env, expose []string
	var buildArgs []string
	for _, in := range instrs {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in)
			stage++
		case "ARG":
			if stage == 0 {
				buildArgs = append(buildArgs, strings.SplitN(in.args, "=", 2)[0])
			}
		case "RUN":
			if stage == 0 && strings.Contains(in.args, "go build") {
				buildRun = in
			}
		case "COPY":
			if strings.HasPrefix(in.args, "--from=") {
				copyFrom = in
			}
		case "USER":
			user = in
		case "ENV":
			env = append(env, in.args)
		case "EXPOSE":
			expose = append(expose, strings.Fields(in.args)...)
		case "ENTRYPOINT":
			entry = in
		}
	}
	if len(froms) != 2 {
		t.Fatalf("want 2 stages (build, runtime), got %d FROM lines", len(froms))
	}

	// Build stage: golang:<go.mod's major.minor>, named.
	fromWords := strings.Fields(froms[0].args)
	var image, alias string
	for i, w := range fromWords {
		if strings.HasPrefix(w, "--") {
			continue
		}
		if strings.EqualFold(w, "AS") && i+1 < len(fromWords) {
			alias = fromWords[i+1]
			break
		}
		image = w
	}
	tag, ok := strings.CutPrefix(image, "golang:")
	if !ok || alias == "" {
		t.Fatalf("build stage %q: want FROM golang:<version> AS <name>", froms[0].args)
	}
	// The image builds with the toolchain go.mod names (the patched one
	// CI uses), or else its go directive.
	goVersion := regexp.MustCompile(`(?m)^toolchain go(\d+)\.(\d+)`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	if goVersion == nil {
		goVersion = regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	}
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	if want := goVersion[1] + "." + goVersion[2]; tag != want && !strings.HasPrefix(tag, want+".") && !strings.HasPrefix(tag, want+"-") {
		t.Errorf("builder image golang:%s does not match go.mod's go %s", tag, want)
	}

	// The build: static, versioned, of the command package, into one file.
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", " ./cmd/gatehouse"} {
		if !strings.Contains(buildRun.args, want) {
			t.Errorf("the go build RUN lacks %q: %s", want, buildRun.args)
		}
	}
	if !slices.Contains(buildArgs, "VERSION") {
		t.Errorf("no ARG VERSION in the build stage (the -X main.version value)")
	}
	var _ string = version // the variable -X main.version sets
	if _, err := os.Stat(filepath.Join(repoRoot, "cmd/gatehouse/main.go")); err != nil {
		t.Errorf("the built package ./cmd/gatehouse: %v", err)
	}
	out := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(buildRun.args)
	if out == nil {
		t.Fatalf("the go build has no -o: %s", buildRun.args)
	}

	// Runtime stage: distroless static, the binary copied from the build
	// stage's output and run as the entrypoint, as a non-root user.
	if !strings.HasPrefix(froms[1].args, "gcr.io/distroless/static") {
		t.Errorf("runtime stage %q: want gcr.io/distroless/static*", froms[1].args)
	}
	copyWords := strings.Fields(copyFrom.args)
	if len(copyWords) != 3 || copyWords[0] != "--from="+alias || copyWords[1] != out[1] {
		t.Fatalf("want COPY --from=%s %s <dest>, got COPY %s", alias, out[1], copyFrom.args)
	}
	var entrypoint []string
	if err := json.Unmarshal([]byte(entry.args), &entrypoint); err != nil || len(entrypoint) == 0 {
		t.Fatalf("ENTRYPOINT %q: want the exec (JSON) form: %v", entry.args, err)
	}
	if entrypoint[0] != copyWords[2] {
		t.Errorf("ENTRYPOINT runs %s, but the binary is copied to %s", entrypoint[0], copyWords[2])
	}
	if u := strings.Split(user.args, ":")[0]; u != "nonroot" && (u == "" || u == "0" || u == "root" || strings.Trim(u, "0123456789") != "") {
		t.Errorf("USER %q: want nonroot or a non-zero numeric uid", user.args)
	}

	// The ports: the app listener's default and the admin listener, which
	// the image moves off loopback.
	var c config
	newFlagSet("gatehouse", &c, io.Discard)
	_, appPort, _ := strings.Cut(c.listen, ":")
	adminEnv := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "GATEHOUSE_ADMIN_LISTEN="); ok {
			adminEnv = v
		}
	}
	if adminEnv != ":9180" {
		t.Errorf("ENV GATEHOUSE_ADMIN_LISTEN=%q, want :9180 (reachable by probes and Prometheus)", adminEnv)
	}
	for _, port := range []string{appPort, "9180"} {
		if !slices.Contains(expose, port) {
			t.Errorf("EXPOSE %v lacks %s", expose, port)
		}
	}

	// The build context: .dockerignore keeps every source file of the main
	// module (and go.mod, go.sum), and drops .git.
	patterns := dockerignorePatterns(t)
	if !dockerIgnored(patterns, ".git") {
		t.Errorf(".dockerignore does not exclude .git")
	}
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ".git" || (rel != "." && fileExists(filepath.Join(p, "go.mod"))) {
				return filepath.SkipDir // other modules are not built
			}
			return nil
		}
		needed := rel == "go.mod" || rel == "go.sum" || (strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go"))
		if needed && dockerIgnored(patterns, rel) {
			t.Errorf(".dockerignore excludes %s, which the build needs", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func dockerignorePatterns(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(readRepoFile(t, ".dockerignore"), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// dockerIgnored reports whether Docker leaves rel (slash-separated, relative
// to the context) out of the build context: a pattern matches the path or
// one of its parent directories, "**/" matches any number of directories,
// a leading "!" re-includes, and the last matching pattern wins.
func dockerIgnored(patterns []string, rel string) bool {
	parts := strings.Split(rel, "/")
	ignored := false
	for _, p := range patterns {
		negate := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/")
		p = path.Clean(p)
		matched := false
		for k := 1; k <= len(parts) && !matched; k++ {
			candidate := parts[:k]
			if rest, ok := strings.CutPrefix(p, "**/"); ok {
				for i := range candidate {
					if m, _ := path.Match(rest, strings.Join(candidate[i:], "/")); m {
						matched = true
						break
					}
				}
			} else if m, _ := path.Match(p, strings.Join(candidate, "/")); m {
				matched = true
			}
		}
		if matched {
			ignored = !negate
		}
	}
	return ignored
}

// withoutForeignColumn blanks the first column of the README's "Coming from
// oauth2-proxy" table, whose flags are the other program's; the gatehouse
// column is still checked.
func withoutForeignColumn(readme string) string {
	const heading = "## Coming from oauth2-proxy"
	i := strings.Index(readme, heading)
	if i < 0 {
		return readme
	}
	end := strings.Index(readme[i+len(heading):], "\n## ")
	if end < 0 {
		end = len(readme) - i - len(heading)
	}
	section := readme[i : i+len(heading)+end]
	lines := strings.Split(section, "\n")
	for j, line := range lines {
		if strings.HasPrefix(line, "| ") {
			if k := strings.Index(line[2:], " | "); k >= 0 {
				lines[j] = "| …" + line[2+k:]
			}
		}
	}
	return readme[:i] + strings.Join(lines, "\n") + readme[i+len(section):]
}

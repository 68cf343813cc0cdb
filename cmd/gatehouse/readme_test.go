package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// flagTable renders the flag reference that README.md carries between its
// flags markers.
func flagTable() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	var c config
	newFlagSet("gatehouse", &c, &bytes.Buffer{}).VisitAll(func(f *flag.Flag) {
		_, help := flag.UnquoteUsage(f)
		def := f.DefValue
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", f.Name, envName(f.Name), def, strings.ReplaceAll(help, "|", "\\|"))
	})
	return b.String()
}

// TestReadmeFlagTable fails when the README's flag reference drifts from
// the flags the binary takes. Run with UPDATE_README=1 to rewrite it.
func TestReadmeFlagTable(t *testing.T) {
	const begin, end = "<!-- flags:begin -->\n", "<!-- flags:end -->"
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatal("README.md lacks the flags markers")
	}
	want := flagTable()
	if readme[i+len(begin):j] == want {
		return
	}
	if os.Getenv("UPDATE_README") == "1" {
		if err := os.WriteFile("../../README.md", []byte(readme[:i+len(begin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Error("README.md's flag table is out of date; run UPDATE_README=1 go test ./cmd/gatehouse -run TestReadmeFlagTable")
}

// Package celgo benchmarks cel-go as upstream kro v0.9.4 uses it, over the expression and data
// set shared with kro-cel's criterion benches (bench/cel-cases.json).
//
// Each program is built once with upstream's environment (pkg/cel.DefaultEnvironment, the
// variables declared as dyn as the graph builder does for resource ids) and env.Program(ast)
// without a cost limit; the activation is built once from the map[string]any data; nothing is
// cached between iterations. A ${} template evaluates each expression and concatenates the
// string results, as upstream's resolver does.
package celgo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/interpreter"
	krocel "github.com/kubernetes-sigs/kro/pkg/cel"
)

type benchCase struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
	Template   string `json:"template"`
}

type caseFile struct {
	Variables map[string]any `json:"variables"`
	Cases     []benchCase    `json:"cases"`
}

func load(b *testing.B) caseFile {
	b.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "cel-cases.json"))
	if err != nil {
		b.Fatal(err)
	}
	var file caseFile
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	if err := decoder.Decode(&file); err != nil {
		b.Fatal(err)
	}
	for name, value := range file.Variables {
		file.Variables[name] = numbers(value)
	}
	return file
}

// numbers turns JSON numbers into int64 where they are integers and float64 otherwise, as the
// API server's unstructured objects hold them.
func numbers(value any) any {
	switch v := value.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case []any:
		for i := range v {
			v[i] = numbers(v[i])
		}
		return v
	case map[string]any:
		for k := range v {
			v[k] = numbers(v[k])
		}
		return v
	default:
		return value
	}
}

// expressions splits a kro template into its ${} expressions and the literal text around them.
func expressions(template string) (literals []string, exprs []string) {
	rest := template
	for {
		start := strings.Index(rest, "${")
		if start < 0 {
			return append(literals, rest), exprs
		}
		end := strings.Index(rest[start:], "}")
		literals = append(literals, rest[:start])
		exprs = append(exprs, rest[start+2:start+end])
		rest = rest[start+end+1:]
	}
}

func program(b *testing.B, env *cel.Env, expr string) cel.Program {
	b.Helper()
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		b.Fatalf("%s: %v", expr, iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		b.Fatalf("%s: %v", expr, err)
	}
	return prg
}

func BenchmarkCEL(b *testing.B) {
	file := load(b)
	// Objects are declared as upstream declares resource ids, lists as it declares collections.
	var objects, lists []string
	for name, value := range file.Variables {
		if _, ok := value.([]any); ok {
			lists = append(lists, name)
		} else {
			objects = append(objects, name)
		}
	}
	sort.Strings(objects)
	sort.Strings(lists)
	env, err := krocel.DefaultEnvironment(krocel.WithResourceIDs(objects), krocel.WithListVariables(lists))
	if err != nil {
		b.Fatal(err)
	}
	activation, err := interpreter.NewActivation(file.Variables)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range file.Cases {
		if c.Template == "" {
			prg := program(b, env, c.Expression)
			if _, _, err := prg.Eval(activation); err != nil {
				b.Fatalf("%s: %v", c.Name, err)
			}
			b.Run(c.Name, func(b *testing.B) {
				for b.Loop() {
					if _, _, err := prg.Eval(activation); err != nil {
						b.Fatal(err)
					}
				}
			})
			continue
		}
		literals, exprs := expressions(c.Template)
		prgs := make([]cel.Program, len(exprs))
		for i, e := range exprs {
			prgs[i] = program(b, env, e)
		}
		b.Run(c.Name, func(b *testing.B) {
			for b.Loop() {
				var out strings.Builder
				for i, prg := range prgs {
					out.WriteString(literals[i])
					val, _, err := prg.Eval(activation)
					if err != nil {
						b.Fatal(err)
					}
					fmt.Fprint(&out, val.Value())
				}
				out.WriteString(literals[len(literals)-1])
				_ = out.String()
			}
		})
	}
}

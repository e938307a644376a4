// Command spechash prints upstream kro's GraphRevision spec hash for every
// ResourceGraphDefinition of a Kubernetes List read on standard input (as
// `kubectl get rgd -o json` writes it), one "name<TAB>hash" line per item, in
// the order of the list. kro-rs's own hash is compared with these values in
// CI, so both implementations name revisions alike.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/kubernetes-sigs/kro/api/v1alpha1"
	"github.com/kubernetes-sigs/kro/pkg/graph/hash"
)

type rgdList struct {
	Items []v1alpha1.ResourceGraphDefinition `json:"items"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "spechash:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	var list rgdList
	if err := json.NewDecoder(in).Decode(&list); err != nil {
		return fmt.Errorf("reading the RGD list: %w", err)
	}
	w := bufio.NewWriter(out)
	for i := range list.Items {
		rgd := &list.Items[i]
		sum, err := hash.Spec(rgd.Spec)
		if err != nil {
			return fmt.Errorf("hashing %s: %w", rgd.Name, err)
		}
		fmt.Fprintf(w, "%s\t%s\n", rgd.Name, sum)
	}
	return w.Flush()
}

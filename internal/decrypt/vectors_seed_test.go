package decrypt

import (
	"testing"

	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

// vectorSeeds returns the committed interoperability vectors, as base64
// text, for the fuzz corpus.
func vectorSeeds(t testing.TB) []string {
	m := vectors.Load(t)
	var out []string
	for _, v := range m.Vectors {
		if v.Generate != nil {
			continue // the 1 MiB random inputs add nothing but time
		}
		out = append(out, string(v.Input(t)))
	}
	return out
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

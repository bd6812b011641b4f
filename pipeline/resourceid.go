package pipeline

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// resourceIDNamespace is Gnocchi's namespace for UUIDv5 resource ids, so
// that a non-UUID id maps to the same UUID here as in Gnocchi.
var resourceIDNamespace = uuid.MustParse("0a7a15ff-aa13-4ac2-897c-9bdf30ce175b")

// ErrBadResourceID is returned for a resource id Gnocchi would refuse.
var ErrBadResourceID = errors.New("invalid resource id")

// ResourceUUID maps a resource id to the UUID Gnocchi stores it under: a
// UUID in any of the usual spellings is itself; any other string of at most
// 255 characters becomes uuid5(namespace, id + "\x00" + creator), creator
// being "user_id:project_id" of the writer.
func ResourceUUID(id, creator string) (uuid.UUID, error) {
	if id == "" {
		return uuid.Nil, fmt.Errorf("%w: empty", ErrBadResourceID)
	}
	if strings.Contains(id, "/") {
		return uuid.Nil, fmt.Errorf("%w: %q: '/' is not supported in resource id", ErrBadResourceID, id)
	}
	if u, err := uuid.Parse(id); err == nil {
		return u, nil
	}
	if len(id) > 255 {
		return uuid.Nil, fmt.Errorf("%w: transformable resource id >255 max allowed characters", ErrBadResourceID)
	}
	return uuid.NewSHA1(resourceIDNamespace, []byte(id+"\x00"+creator)), nil
}

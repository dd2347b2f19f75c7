package image

import (
	"context"
	"io"

	"github.com/hookci/hookci/internal/ext4img"
)

// makeDisk writes the guest's root disk: an ext4 image of root at out.
func makeDisk(ctx context.Context, root, out string, log io.Writer) error {
	return ext4img.Build(ctx, root, out, ext4img.Options{Label: "hookci-root", Margin: 64 << 20, SpareInodes: 4096, Log: log})
}

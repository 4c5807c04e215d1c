package compliance

import "fmt"

// checkKMSRetain: deleting a key makes everything encrypted under it unreadable, backups and
// retained tables included, so a stack deletion must never take its keys along.
var checkKMSRetain = Check{
	Name:    "kms-retain",
	Default: "KMS keys are retained when their stack is deleted",
	Run:     kmsRetain,
}

func kmsRetain(t Template) (int, []string) {
	return each(t, "AWS::KMS::Key", func(r Resource) string {
		if r.Attr("DeletionPolicy") != "Retain" || r.Attr("UpdateReplacePolicy") != "Retain" {
			return fmt.Sprintf("DeletionPolicy %q / UpdateReplacePolicy %q, want Retain", r.Attr("DeletionPolicy"), r.Attr("UpdateReplacePolicy"))
		}
		return ""
	})
}

package compliance

import "strings"

// checkS3PublicAccessBlock: all four settings, so neither an ACL nor a bucket policy written
// later can make the bucket public.
var checkS3PublicAccessBlock = Check{
	Name:    "s3-public-access-block",
	Default: "S3 blocks all public access",
	Run:     s3PublicAccessBlock,
}

func s3PublicAccessBlock(t Template) (int, []string) {
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		var off []string
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if Get(r.Properties, "PublicAccessBlockConfiguration", k) != true {
				off = append(off, k)
			}
		}
		if len(off) > 0 {
			return "public access block off: " + strings.Join(off, ", ")
		}
		return ""
	})
}

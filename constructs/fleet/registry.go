package fleet

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Registry writes, at deploy time, the registry facts CloudFormation has no resource for:
// static thing group membership (AddThingToThingGroup), a thing's type (AWS::IoT::Thing has
// no ThingTypeName) and a policy attached to a thing group (AWS::IoT::PolicyPrincipalAttachment
// takes only certificates and Cognito identities). Each fact is one AwsCustomResource; all of
// them share one provider function and one role whose statements name the exact thing,
// group, type and policy ARNs involved (see the package comment for why not dynamic groups).
type Registry struct {
	constructs.Construct
	// Role is the provider function's execution role (child id "ExecutionRole").
	Role awsiam.Role
	// LogGroup receives the provider function's logs (encrypted, with a retention).
	LogGroup awslogs.LogGroup
	// Function is the shared provider function AwsCustomResource creates in the stack.
	Function awslambda.Function
	// Resources are the custom resources, in creation order.
	Resources []customresources.AwsCustomResource

	memberThings, memberGroups map[string]*string
	typedThings, types         map[string]*string
	attachTargets              map[string]*string
	finished                   bool
}

// Custom resource types, so a template reader sees what each one does.
const (
	ResourceTypeMembership = "Custom::ThingGroupMembership"
	ResourceTypeThingType  = "Custom::ThingTypeAssociation"
	ResourceTypeGroupPol   = "Custom::ThingGroupPolicy"
)

// ProviderConcurrency bounds the shared provider function. CloudFormation invokes custom
// resources asynchronously, so throttled invocations are retried rather than lost.
const ProviderConcurrency = 5

// providerID is the construct id AwsCustomResource gives its singleton function in the stack.
const providerID = "AWS679f53fac002430cb0da5b7982bd2287"

func newRegistry(scope constructs.Construct, id string, key awskms.IKey, retention awslogs.RetentionDays, removal awscdk.RemovalPolicy) *Registry {
	this := constructs.NewConstruct(scope, jsii.String(id))
	r := &Registry{
		Construct:    this,
		memberThings: map[string]*string{}, memberGroups: map[string]*string{},
		typedThings: map[string]*string{}, types: map[string]*string{}, attachTargets: map[string]*string{},
	}
	r.LogGroup = awslogs.NewLogGroup(this, jsii.String("Logs"), &awslogs.LogGroupProps{
		EncryptionKey: key, Retention: retention, RemovalPolicy: removal,
	})
	r.Role = awsiam.NewRole(this, jsii.String("ExecutionRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Writes thing group memberships, thing types and the quarantine policy attachment at deploy time; exact ARNs only"),
	})
	r.LogGroup.GrantWrite(r.Role)
	return r
}

func (r *Registry) call(id, resourceType string, onCreate, onDelete *customresources.AwsSdkCall, deps ...constructs.IConstruct) {
	cr := customresources.NewAwsCustomResource(r.Construct, jsii.String(id), &customresources.AwsCustomResourceProps{
		ResourceType:        jsii.String(resourceType),
		OnCreate:            onCreate,
		OnUpdate:            onCreate,
		OnDelete:            onDelete,
		Role:                r.Role,
		LogGroup:            r.LogGroup,
		MemorySize:          jsii.Number(256),
		Timeout:             awscdk.Duration_Minutes(jsii.Number(1)),
		InstallLatestAwsSdk: jsii.Bool(false),
	})
	for _, d := range deps {
		cr.Node().AddDependency(d)
	}
	r.Resources = append(r.Resources, cr)
}

func iotCall(action string, params map[string]any, physicalID string, ignoreMissing bool) *customresources.AwsSdkCall {
	c := &customresources.AwsSdkCall{
		Service:            jsii.String("Iot"),
		Action:             jsii.String(action),
		Parameters:         params,
		PhysicalResourceId: customresources.PhysicalResourceId_Of(jsii.String(physicalID)),
	}
	if ignoreMissing {
		// Deleting what is already gone (a thing deleted with its stack) is success.
		c.IgnoreErrorCodesMatching = jsii.String("ResourceNotFoundException")
	}
	return c
}

// addToGroup puts a thing in a static group; removing the custom resource takes it out.
func (r *Registry) addToGroup(thing awsiot.CfnThing, thingName string, group awsiot.CfnThingGroup, groupName string) {
	params := map[string]any{"thingName": thingName, "thingGroupName": groupName}
	physical := "membership:" + groupName + ":" + thingName
	r.call("Member-"+thingName+"-"+groupName, ResourceTypeMembership,
		iotCall("AddThingToThingGroup", params, physical, false),
		iotCall("RemoveThingFromThingGroup", params, physical, true),
		thing, group)
	r.memberThings[thingName] = arn(r.Construct, "thing", thingName)
	r.memberGroups[groupName] = arn(r.Construct, "thinggroup", groupName)
}

// setThingType associates a thing with its class's thing type.
func (r *Registry) setThingType(thing awsiot.CfnThing, thingName string, tt awsiot.CfnThingType, typeName string) {
	physical := "thing-type:" + thingName
	r.call("Type-"+thingName, ResourceTypeThingType,
		iotCall("UpdateThing", map[string]any{"thingName": thingName, "thingTypeName": typeName}, physical, false),
		iotCall("UpdateThing", map[string]any{"thingName": thingName, "removeThingType": true}, physical, true),
		thing, tt)
	r.typedThings[thingName] = arn(r.Construct, "thing", thingName)
	r.types[typeName] = arn(r.Construct, "thingtype", typeName)
}

// attachPolicyToGroup attaches an IoT policy to a thing group.
func (r *Registry) attachPolicyToGroup(id string, policy awsiot.CfnPolicy, group awsiot.CfnThingGroup) {
	params := map[string]any{"policyName": policy.Ref(), "target": group.AttrArn()}
	physical := "group-policy:" + id
	r.call(id, ResourceTypeGroupPol,
		iotCall("AttachPolicy", params, physical, false),
		iotCall("DetachPolicy", params, physical, true),
		policy, group)
	r.attachTargets["policy"] = policy.AttrArn()
	r.attachTargets["group"] = group.AttrArn()
}

// finish writes the role's statements (now that every ARN is known) and hardens the shared
// provider function; every custom resource depends on the statements, so none runs before
// its permission exists or after it is gone.
func (r *Registry) finish() {
	if r.finished {
		return
	}
	r.finished = true
	statement := func(sid string, actions []string, groups ...map[string]*string) {
		var res []*string
		seen := map[string]bool{}
		for _, g := range groups {
			for _, k := range sortedKeys(g) {
				if !seen[*g[k]] {
					seen[*g[k]] = true
					res = append(res, g[k])
				}
			}
		}
		if len(res) == 0 {
			return
		}
		r.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: &res,
		}))
	}
	// One statement names each declared thing once: the policy then grows by one ARN per
	// thing, so it stays one inline policy (10,240 characters) at the cap on declared things
	// instead of overflowing into extra managed policies. Granting the membership actions on
	// the thing types and UpdateThing on the groups adds nothing: those actions act only on
	// things and groups (Add/RemoveThingFromThingGroup) and things and types (UpdateThing), and
	// every declared thing gets both a type and its memberships.
	statement("DeclaredThings", []string{"iot:AddThingToThingGroup", "iot:RemoveThingFromThingGroup", "iot:UpdateThing"},
		r.memberThings, r.typedThings, r.memberGroups, r.types)
	statement("QuarantineGroupPolicy", []string{"iot:AttachPolicy", "iot:DetachPolicy"}, r.attachTargets)
	// Active tracing (below) needs these two, which have no resource-level permissions.
	r.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("Tracing"), Actions: jsii.Strings("xray:PutTraceSegments", "xray:PutTelemetryRecords"), Resources: jsii.Strings("*"),
	}))
	policy := r.Role.Node().TryFindChild(jsii.String("DefaultPolicy"))
	for _, cr := range r.Resources {
		if policy != nil {
			cr.Node().AddDependency(policy)
		}
	}
	fn, ok := awscdk.Stack_Of(r.Construct).Node().TryFindChild(jsii.String(providerID)).(awslambda.Function)
	if !ok {
		return
	}
	r.Function = fn
	// AwsCustomResource exposes none of these; they are the platform's function defaults
	// (see the lambda-hardening check), set on the provider's L1 so cdk-nag sees them too.
	cfn, ok := fn.Node().DefaultChild().(awslambda.CfnFunction)
	if !ok {
		return
	}
	cfn.SetTracingConfig(&awslambda.CfnFunction_TracingConfigProperty{Mode: jsii.String("Active")})
	cfn.SetReservedConcurrentExecutions(jsii.Number(ProviderConcurrency))
	cfn.SetLoggingConfig(&awslambda.CfnFunction_LoggingConfigProperty{
		LogFormat: jsii.String("JSON"),
		LogGroup:  r.LogGroup.LogGroupName(),
	})
	if policy != nil {
		fn.Node().AddDependency(policy)
	}
}

"""cdk-nag (v3): the AWS Solutions rule pack and the helpers to acknowledge a finding.

cdk-nag 3 runs as a CDK policy-validation plugin: a violation that is not acknowledged
fails ``cdk synth`` (and ``app.synth()`` in tests) with the report, and the report is also
written to ``validation-report.json`` in the cloud assembly. An acknowledgment matches one
exact finding, e.g. ``AwsSolutions-IAM5[Resource::<RecordsTable1A2B3C.Arn>/index/*]``, on the
construct or any of its ancestors, so each one is written next to the construct that causes
it, with the reason.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, CfnResource, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

# The managed policy CDK attaches to every Lambda role it creates (logs only).
LAMBDA_BASIC_EXECUTION = (
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
)


def check(app: App) -> None:
    """Run the AWS Solutions checks on every stack of ``app`` at synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept one cdk-nag finding on ``scope`` and everything under it, with the reason."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def arn_of(resource: IConstruct) -> str:
    """How cdk-nag spells ``Fn::GetAtt [<resource>, Arn]`` inside a finding id."""
    return f"<{logical_id(resource)}.Arn>"


def ref_of(resource: IConstruct) -> str:
    """How cdk-nag spells ``Ref <resource>`` inside a finding id."""
    return f"<{logical_id(resource)}>"


def logical_id(resource: IConstruct) -> str:
    """The logical id of an L2 construct's CloudFormation resource (or of an L1 itself)."""
    cfn = resource if isinstance(resource, CfnResource) else resource.node.default_child
    if not isinstance(cfn, CfnResource):
        raise TypeError(f"{resource.node.path} has no CloudFormation resource")
    return Stack.of(cfn).get_logical_id(cfn)

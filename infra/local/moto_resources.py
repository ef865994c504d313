"""CloudFormation support, inside the local stack's server, for the resource
types of our template that moto's CloudFormation does not know.

moto implements these services (alarms, Application Auto Scaling, ECS
capacity providers) but not their CloudFormation types; without these models
it would skip the resources and the template's alarms and scaling would go
untested. Each model creates the resource through moto's own backend, so
the deployed stack can be inspected with the ordinary APIs
(``describe_alarms``, ``describe_scaling_policies``,
``describe_capacity_providers``). Imported by ``moto_fidelity.apply`` only.
"""

from __future__ import annotations

from typing import Any

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.cloudwatch.models import (
    Dimension,
    Metric,
    MetricDataQuery,
    MetricStat,
    cloudwatch_backends,
)
from moto.core.common_models import CloudFormationModel
from moto.ecs.models import ecs_backends
from moto.sns.models import sns_backends


def _name(resource: Any) -> str:
    """A Ref or GetAtt of an ECS resource: moto hands over the model or its name."""
    return str(getattr(resource, "name", resource))


class _Adapter(CloudFormationModel):
    """What every adapter shares: no update in place (CloudFormation replaces)."""

    TYPE = ""
    """The CloudFormation type this model implements."""
    NAME_TYPE = ""
    """The property that names the resource, if any."""

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_TYPE

    @classmethod
    def create(cls, resource_name: str, p: Any, account_id: str, region_name: str) -> Any:
        """Create the resource from its ``Properties`` through moto's backend."""
        raise NotImplementedError

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        return cls.create(
            resource_name, cloudformation_json.get("Properties", {}), account_id, region_name
        )

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn", "Name")

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    def delete(self, account_id: str, region_name: str) -> None:
        return None


def _queries(properties: dict[str, Any]) -> list[Any] | None:
    metrics = properties.get("Metrics")
    if not metrics:
        return None
    queries = []
    for query in metrics:
        stat = query.get("MetricStat")
        metric_stat = None
        if stat:
            metric = stat["Metric"]
            metric_stat = MetricStat(
                metric=Metric(
                    metric_name=metric["MetricName"],
                    namespace=metric["Namespace"],
                    dimensions=[
                        Dimension(name=d["Name"], value=d["Value"])
                        for d in metric.get("Dimensions", [])
                    ],
                ),
                period=stat.get("Period"),
                stat=stat.get("Stat"),
                unit=stat.get("Unit"),
            )
        queries.append(
            MetricDataQuery(
                query_id=query["Id"],
                label=query.get("Label"),
                period=query.get("Period"),
                return_data=query.get("ReturnData", True),
                expression=query.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return queries


class Alarm(_Adapter):
    def __init__(self, name: str, arn: str) -> None:
        self.name = name
        self.arn = arn
        self.physical_resource_id = name

    TYPE = "AWS::CloudWatch::Alarm"
    NAME_TYPE = "AlarmName"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn

    @classmethod
    def create(cls, resource_name: str, p: Any, account_id: str, region_name: str) -> Alarm:
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=resource_name,
            namespace=p.get("Namespace"),
            metric_name=p.get("MetricName"),
            metric_data_queries=_queries(p),
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p.get("Period", 60)),
            threshold=float(p["Threshold"]),
            statistic=p.get("Statistic"),
            description=p.get("AlarmDescription", ""),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in p.get("Dimensions", [])],
            alarm_actions=[str(a) for a in p.get("AlarmActions", [])],
            ok_actions=[str(a) for a in p.get("OKActions", [])],
            treat_missing_data=p.get("TreatMissingData"),
        )
        return cls(resource_name, alarm.alarm_arn)

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])


class ScalableTarget(_Adapter):
    def __init__(self, namespace: str, resource_id: str, dimension: str) -> None:
        self.namespace = namespace
        self.resource_id = resource_id
        self.dimension = dimension
        # Policies name their target by this id: "<resource id>|<dimension>|<namespace>".
        self.physical_resource_id = f"{resource_id}|{dimension}|{namespace}"

    TYPE = "AWS::ApplicationAutoScaling::ScalableTarget"

    @classmethod
    def create(
        cls, resource_name: str, p: Any, account_id: str, region_name: str
    ) -> ScalableTarget:
        applicationautoscaling_backends[account_id][region_name].register_scalable_target(
            namespace=p["ServiceNamespace"],
            r_id=p["ResourceId"],
            dimension=p["ScalableDimension"],
            min_capacity=int(p["MinCapacity"]),
            max_capacity=int(p["MaxCapacity"]),
            role_arn=p.get("RoleARN", ""),
            suspended_state=p.get("SuspendedState", {}),
        )
        return cls(p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"])

    def delete(self, account_id: str, region_name: str) -> None:
        applicationautoscaling_backends[account_id][region_name].deregister_scalable_target(
            self.namespace, self.resource_id, self.dimension
        )


class ScalingPolicy(_Adapter):
    def __init__(self, arn: str, target: tuple[str, str, str], name: str) -> None:
        self.arn = arn
        self.target = target
        self.name = name
        self.physical_resource_id = arn

    TYPE = "AWS::ApplicationAutoScaling::ScalingPolicy"

    @classmethod
    def create(cls, resource_name: str, p: Any, account_id: str, region_name: str) -> ScalingPolicy:
        resource_id, dimension, namespace = str(p["ScalingTargetId"]).split("|")
        body = {
            key: p[key]
            for key in (
                "TargetTrackingScalingPolicyConfiguration",
                "StepScalingPolicyConfiguration",
            )
            if key in p
        }
        policy = applicationautoscaling_backends[account_id][region_name].put_scaling_policy(
            policy_name=p["PolicyName"],
            service_namespace=namespace,
            resource_id=resource_id,
            scalable_dimension=dimension,
            policy_body=body,
            policy_type=p["PolicyType"],
        )
        return cls(policy.policy_arn, (namespace, resource_id, dimension), p["PolicyName"])

    def delete(self, account_id: str, region_name: str) -> None:
        namespace, resource_id, dimension = self.target
        applicationautoscaling_backends[account_id][region_name].delete_scaling_policy(
            self.name, namespace, resource_id, dimension
        )


class CapacityProvider(_Adapter):
    def __init__(self, name: str, arn: str) -> None:
        self.name = name
        self.arn = arn
        self.physical_resource_id = name

    TYPE = "AWS::ECS::CapacityProvider"
    NAME_TYPE = "Name"

    @classmethod
    def create(
        cls, resource_name: str, p: Any, account_id: str, region_name: str
    ) -> CapacityProvider:
        group = p["AutoScalingGroupProvider"]
        details = {
            "autoScalingGroupArn": str(group["AutoScalingGroupArn"]),
            "managedScaling": {
                key[0].lower() + key[1:]: value
                for key, value in group.get("ManagedScaling", {}).items()
            },
            "managedTerminationProtection": group.get("ManagedTerminationProtection", "DISABLED"),
        }
        provider = ecs_backends[account_id][region_name].create_capacity_provider(
            resource_name, details, tags=None
        )
        return cls(resource_name, provider.capacity_provider_arn)

    def delete(self, account_id: str, region_name: str) -> None:
        ecs_backends[account_id][region_name].delete_capacity_provider(self.name)


class ClusterCapacityProviderAssociations(_Adapter):
    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self.physical_resource_id = cluster

    TYPE = "AWS::ECS::ClusterCapacityProviderAssociations"

    @classmethod
    def create(
        cls, resource_name: str, p: Any, account_id: str, region_name: str
    ) -> ClusterCapacityProviderAssociations:
        cluster = _name(p["Cluster"])
        strategy = [
            {
                "capacityProvider": _name(s["CapacityProvider"]),
                "weight": int(s.get("Weight", 0)),
                "base": int(s.get("Base", 0)),
            }
            for s in p.get("DefaultCapacityProviderStrategy", [])
        ]
        ecs_backends[account_id][region_name].put_cluster_capacity_providers(
            cluster, [_name(c) for c in p.get("CapacityProviders", [])], strategy
        )
        return cls(cluster)

    def delete(self, account_id: str, region_name: str) -> None:
        ecs_backends[account_id][region_name].put_cluster_capacity_providers(self.cluster, [], [])


class Subscription(_Adapter):
    def __init__(self, arn: str) -> None:
        self.arn = arn
        self.physical_resource_id = arn

    TYPE = "AWS::SNS::Subscription"

    @classmethod
    def create(cls, resource_name: str, p: Any, account_id: str, region_name: str) -> Subscription:
        subscription = sns_backends[account_id][region_name].subscribe(
            str(p["TopicArn"]), str(p["Endpoint"]), p["Protocol"]
        )
        return cls(subscription.arn)

    def delete(self, account_id: str, region_name: str) -> None:
        sns_backends[account_id][region_name].unsubscribe(self.arn)


def register() -> None:
    """Make moto's CloudFormation see the adapters (its type map is cached)."""
    from moto.cloudformation import parsing

    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    # Both maps are built from direct subclasses only, and _Adapter is the one
    # direct subclass here: add the adapters themselves to the cached maps.
    models, names = parsing.get_model_map(), parsing.get_name_type_map()
    for adapter in _Adapter.__subclasses__():
        models[adapter.cloudformation_type()] = adapter
        names[adapter.cloudformation_type()] = adapter.cloudformation_name_type()

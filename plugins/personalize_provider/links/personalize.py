"""Operator extra links from Personalize tasks to the AWS console, and the Airflow plugin that registers them.

Airflow's plugin loader imports this file from the plugins folder as a top-level module (``.airflowignore``
beside the package keeps it from importing the package's other modules that way); operators import it from the
package. Both routes register the same link classes: the plugin takes them from the package module.

The console addresses its pages by a hash route holding the resource ARN with the first ``/`` of the resource
part written as ``$``; that route is the console's, not a documented API, so only the region and the ARN are
relied on.

**Stand-ins.** When the connection sends Personalize calls to an endpoint that is not AWS's (the local
Personalize-compatible endpoint on 127.0.0.1, or a docker-compose service), the ARNs name a made-up account and
the console has nothing to show, and the local endpoint serves no page per resource. So those links point at what
can be opened instead: an import job's link opens its data location on the stand-in S3 endpoint (the bucket
listing of what the job imported), a data deletion job's the USER_ID file it read, a batch inference or batch
segment job's the output folder it wrote, and the other links are left empty, which the Airflow UI does not show.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from airflow.plugins_manager import AirflowPlugin
from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


def console_fragment(resource_arn: str) -> str:
    """``arn:aws:personalize:r:a:campaign/name`` -> ``arn:aws:personalize:r:a:campaign$name`` (console routes)."""
    prefix, _, resource = resource_arn.rpartition(":")
    kind, sep, rest = resource.partition("/")
    return f"{prefix}:{kind}${rest}" if sep else resource_arn


def personalize_console_url(*, aws_domain: str, region_name: str, resource_arn: str, page: str = "") -> str:
    """The console page of a Personalize resource; ``page`` is an optional sub-page such as ``setup``."""
    fragment = quote(console_fragment(resource_arn), safe=":$/-_.")
    if page:
        fragment = f"{fragment}/{page}"
    base = BASE_AWS_CONSOLE_LINK.format(aws_domain=aws_domain)
    return f"{base}/personalize/home?region={quote(region_name, safe='-')}#{fragment}"


#: Host names of AWS's own endpoints: regional, FIPS and dual-stack, VPC endpoints, and the China partition.
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")


def is_stand_in_endpoint(endpoint_url: str | None) -> bool:
    """Whether an endpoint URL sends calls somewhere other than AWS (None: the service's default, i.e. AWS)."""
    if not endpoint_url:
        return False
    host = (urlsplit(endpoint_url).hostname or "").lower().rstrip(".")
    return not host.endswith(AWS_HOST_SUFFIXES)


def s3_endpoint_listing_url(endpoint_url: str, s3_location: str) -> str:
    """A browser URL listing ``s3://bucket/key…`` on an S3-compatible endpoint (path style, as moto's server serves).

    The listing of that prefix (a folder's files, or the one file, with size, date and ETag) rather than the object
    itself: moto's server answers a listing without credentials but refuses an unsigned object download.
    """
    bucket, _, key = s3_location.removeprefix("s3://").partition("/")
    return f"{endpoint_url.rstrip('/')}/{quote(bucket, safe='')}?prefix={quote(key, safe='')}"


def stand_in_link_fields(operator: Any, location_attribute: str = "data_location") -> dict[str, str]:
    """What a link stores besides the ARN when the operator's connection points Personalize at a stand-in.

    Empty against AWS. Otherwise ``stand_in_endpoint`` and ``stand_in_url``: the S3 location in the operator's
    ``location_attribute`` (an import job's or a data deletion job's ``data_location``, a batch job's output path)
    on the stand-in S3 endpoint, or empty when there is nothing to open.
    """
    try:
        connection = operator.hook.conn_config
        personalize_endpoint = connection.get_service_endpoint_url("personalize")
        s3_endpoint = connection.get_service_endpoint_url("s3")
    except Exception:  # no hook or connection: keep the plain console link
        return {}
    if not is_stand_in_endpoint(personalize_endpoint):
        return {}
    location = getattr(operator, location_attribute, None)
    url = ""
    if isinstance(location, str) and location.startswith("s3://") and is_stand_in_endpoint(s3_endpoint):
        url = s3_endpoint_listing_url(s3_endpoint, location)
    return {"stand_in_endpoint": personalize_endpoint, "stand_in_url": url}


class _PersonalizeConsoleLink(BaseAwsLink):
    """A console link whose XCom value carries ``region_name``, ``aws_domain`` and ``resource_arn`` (and, against
    a stand-in endpoint, ``stand_in_endpoint`` and ``stand_in_url``)."""

    page: ClassVar[str] = ""
    #: The operator attribute holding the S3 location a stand-in's link opens.
    stand_in_location_attribute: ClassVar[str] = "data_location"
    format_str = "{aws_domain}{region_name}{resource_arn}"  # unused: format_link builds the URL

    @classmethod
    def persist(cls, context: Any, operator: Any, region_name: str, aws_partition: str, **kwargs: Any) -> None:
        kwargs.update(stand_in_link_fields(operator, cls.stand_in_location_attribute))
        super().persist(
            context=context, operator=operator, region_name=region_name, aws_partition=aws_partition, **kwargs
        )

    def format_link(self, **kwargs) -> str:
        if "stand_in_endpoint" in kwargs:  # no console page exists for a stand-in's resources
            return kwargs.get("stand_in_url") or ""
        try:
            return personalize_console_url(
                aws_domain=kwargs["aws_domain"],
                region_name=kwargs["region_name"],
                resource_arn=kwargs["resource_arn"],
                page=self.page,
            )
        except (KeyError, TypeError):  # no ARN recorded yet (task failed early), or partition unknown
            return ""


class PersonalizeDatasetGroupLink(_PersonalizeConsoleLink):
    """The dataset group's overview in the Personalize console."""

    name = "Personalize Dataset Group"
    key = "personalize_dataset_group"
    page = "setup"


class PersonalizeDatasetImportJobLink(_PersonalizeConsoleLink):
    """The dataset import job in the Personalize console."""

    name = "Personalize Import Job"
    key = "personalize_dataset_import_job"


class PersonalizeDataDeletionJobLink(_PersonalizeConsoleLink):
    """The dataset group whose users the data deletion job deletes, in the Personalize console.

    The console shows a deletion job only among its dataset group's jobs and no route to one job's page is
    known, so the link stores the dataset group's ARN and opens the group's overview; its data deletion jobs are
    listed from there. Against a stand-in endpoint it opens the job's USER_ID file on the stand-in S3.
    """

    name = "Personalize Data Deletion Job"
    key = "personalize_data_deletion_job"
    page = "setup"


class PersonalizeSolutionVersionLink(_PersonalizeConsoleLink):
    """The solution version (training run and metrics) in the Personalize console."""

    name = "Personalize Solution Version"
    key = "personalize_solution_version"


class PersonalizeCampaignLink(_PersonalizeConsoleLink):
    """The campaign in the Personalize console."""

    name = "Personalize Campaign"
    key = "personalize_campaign"


class PersonalizeBatchInferenceJobLink(_PersonalizeConsoleLink):
    """The solution whose version the batch inference job ran, in the Personalize console.

    No console route to one batch job's page is documented, so the link stores the solution's ARN and opens the
    solution's page (its versions, the one the job used among them). Against a stand-in endpoint it opens the job's
    output folder on the stand-in S3.
    """

    name = "Personalize Batch Inference Job"
    key = "personalize_batch_inference_job"
    stand_in_location_attribute = "job_output_s3_path"


class PersonalizeBatchSegmentJobLink(_PersonalizeConsoleLink):
    """The solution whose version the batch segment job ran, in the Personalize console (as for
    :class:`PersonalizeBatchInferenceJobLink`: no per-job route is documented). Against a stand-in endpoint it opens
    the job's output folder on the stand-in S3."""

    name = "Personalize Batch Segment Job"
    key = "personalize_batch_segment_job"
    stand_in_location_attribute = "job_output_s3_path"


def solution_arn_of(solution_version_arn: str) -> str:
    """``...:solution/name/3f9a1c2e`` -> ``...:solution/name`` (a version's ARN is its solution's plus an id)."""
    solution_arn, separator, _ = solution_version_arn.rpartition("/")
    return solution_arn if separator and "/" in solution_arn.rpartition(":")[2] else solution_version_arn


LINK_CLASSES: tuple[type[_PersonalizeConsoleLink], ...] = (
    PersonalizeDatasetGroupLink,
    PersonalizeDatasetImportJobLink,
    PersonalizeDataDeletionJobLink,
    PersonalizeSolutionVersionLink,
    PersonalizeCampaignLink,
    PersonalizeBatchInferenceJobLink,
    PersonalizeBatchSegmentJobLink,
)


def _package_link_instances() -> list[BaseAwsLink]:
    # Imported by absolute name so that, when the plugin loader runs this file under another module name, the
    # registered classes are still the ones the operators use.
    from personalize_provider.links import personalize as package_module

    return [link_class() for link_class in package_module.LINK_CLASSES]


class PersonalizeProviderPlugin(AirflowPlugin):
    """Registers the Personalize console links with Airflow."""

    name = "personalize_provider"
    operator_extra_links = _package_link_instances()

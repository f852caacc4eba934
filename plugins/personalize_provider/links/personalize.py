"""Operator extra links from Personalize tasks to the AWS console, and the Airflow plugin that registers them.

Airflow's plugin loader imports this file from the plugins folder as a top-level module (``.airflowignore``
beside the package keeps it from importing the package's other modules that way); operators import it from the
package. Both routes register the same link classes: the plugin takes them from the package module.

The console addresses its pages by a hash route holding the resource ARN with the first ``/`` of the resource
part written as ``$``; that route is the console's, not a documented API, so only the region and the ARN are
relied on.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

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


class _PersonalizeConsoleLink(BaseAwsLink):
    """A console link whose XCom value carries ``region_name``, ``aws_domain`` and ``resource_arn``."""

    page: ClassVar[str] = ""
    format_str = "{aws_domain}{region_name}{resource_arn}"  # unused: format_link builds the URL

    def format_link(self, **kwargs) -> str:
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


class PersonalizeSolutionVersionLink(_PersonalizeConsoleLink):
    """The solution version (training run and metrics) in the Personalize console."""

    name = "Personalize Solution Version"
    key = "personalize_solution_version"


class PersonalizeCampaignLink(_PersonalizeConsoleLink):
    """The campaign in the Personalize console."""

    name = "Personalize Campaign"
    key = "personalize_campaign"


LINK_CLASSES: tuple[type[_PersonalizeConsoleLink], ...] = (
    PersonalizeDatasetGroupLink,
    PersonalizeDatasetImportJobLink,
    PersonalizeSolutionVersionLink,
    PersonalizeCampaignLink,
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

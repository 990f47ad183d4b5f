"""`bmlb deploy`: the Kubernetes manifests that install bmlb, rendered from templates/deploy/."""

from __future__ import annotations

from pathlib import Path

import click

from controller.core import deploy as deploy_mod


@click.group()
def deploy() -> None:
    """Render the manifests that install bmlb in a cluster."""


@deploy.command("render")
@click.option("--image", default=deploy_mod.DEFAULTS["image"], show_default=True, help="The bmlb image.")
@click.option("--namespace", default=deploy_mod.DEFAULTS["namespace"], show_default=True,
              help="Namespace of the controller and the agents.")
@click.option("--firewall-secret", "secrets", multiple=True, metavar="[NAMESPACE/]NAME",
              help="A firewall credentials Secret the controller may read (repeatable; "
                   f"default: {deploy_mod.DEFAULTS['firewall_secrets'][0]} in --namespace).")
@click.option("--replicas", type=int, default=deploy_mod.DEFAULTS["replicas"], show_default=True,
              help="Controller replicas (one leads, the others stand by).")
@click.option("--no-samples", is_flag=True, help="Leave out the sample Firewall and VIPPools.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write one file per template into this folder (default: one stream on stdout).")
def render(image: str, namespace: str, secrets: tuple[str, ...], replicas: int, no_samples: bool,
           output: Path | None) -> None:
    """Render the CRDs, RBAC, controller Deployment, agent DaemonSet and samples."""
    values: dict[str, object] = {"image": image, "namespace": namespace, "replicas": replicas,
                                 "samples": not no_samples}
    if secrets:
        values["firewall_secrets"] = list(secrets)
    try:
        rendered = deploy_mod.render(values)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    if output is None:
        click.echo(deploy_mod.as_stream(rendered), nl=False)
        return
    for path in deploy_mod.write(rendered, output):
        click.echo(str(path), err=True)

"""Initial configurations and system identity of a simulated device."""

from __future__ import annotations

from dataclasses import dataclass

FIREWALL_CONFIG = """
<config version="10.2.0" urldb="paloaltonetworks">
  <mgt-config><users><entry name="admin"><permissions><role-based><superuser>yes</superuser>
  </role-based></permissions></entry></users></mgt-config>
  <shared><address/><address-group/><service/><service-group/><tag/></shared>
  <devices>
    <entry name="localhost.localdomain">
      <deviceconfig><system><hostname>sim-fw</hostname></system></deviceconfig>
      <network>
        <interface><ethernet>
          <entry name="ethernet1/1"><layer3><ip><entry name="203.0.113.2/24"/></ip></layer3></entry>
          <entry name="ethernet1/2"><layer3><ip><entry name="10.0.0.1/24"/></ip></layer3></entry>
          <entry name="ethernet1/3"><layer3><ip><entry name="192.168.50.1/24"/></ip></layer3></entry>
          <entry name="ethernet1/4"><layer3><ip><entry name="10.96.0.1/16"/></ip></layer3></entry>
        </ethernet></interface>
        <virtual-router><entry name="default">
          <interface><member>ethernet1/1</member><member>ethernet1/2</member>
          <member>ethernet1/3</member><member>ethernet1/4</member></interface>
          <routing-table><ip><static-route/></ip></routing-table>
        </entry></virtual-router>
      </network>
      <vsys>
        <entry name="vsys1">
          <import><network><interface><member>ethernet1/1</member><member>ethernet1/2</member>
          <member>ethernet1/3</member><member>ethernet1/4</member></interface></network></import>
          <zone>
            <entry name="untrust"><network><layer3><member>ethernet1/1</member></layer3></network></entry>
            <entry name="trust"><network><layer3><member>ethernet1/2</member></layer3></network></entry>
            <entry name="dmz"><network><layer3><member>ethernet1/3</member></layer3></network></entry>
            <entry name="k8s"><network><layer3><member>ethernet1/4</member></layer3></network></entry>
          </zone>
          <address/><address-group/><service/><service-group/><tag/>
          <rulebase><security><rules/></security><nat><rules/></nat></rulebase>
        </entry>
      </vsys>
    </entry>
  </devices>
</config>
"""

PANORAMA_CONFIG = """
<config version="10.2.0" urldb="paloaltonetworks">
  <mgt-config><users><entry name="admin"><permissions><role-based><superuser>yes</superuser>
  </role-based></permissions></entry></users>
  <devices><entry name="007951000000001"/></devices></mgt-config>
  <shared><address/><address-group/><service/><service-group/><tag/></shared>
  <devices>
    <entry name="localhost.localdomain">
      <deviceconfig><system><hostname>sim-panorama</hostname></system></deviceconfig>
      <device-group>
        <entry name="k8s">
          <devices><entry name="007951000000001"/></devices>
          <address/><address-group/><service/><service-group/><tag/>
          <pre-rulebase><security><rules/></security><nat><rules/></nat></pre-rulebase>
          <post-rulebase><security><rules/></security><nat><rules/></nat></post-rulebase>
        </entry>
      </device-group>
      <template><entry name="k8s-template"><config><devices><entry name="localhost.localdomain">
        <network><virtual-router><entry name="default">
          <routing-table><ip><static-route/></ip></routing-table>
        </entry></virtual-router></network>
        <vsys><entry name="vsys1"><zone><entry name="untrust"/><entry name="trust"/>
        <entry name="dmz"/><entry name="k8s"/></zone></entry></vsys>
      </entry></devices></config></entry></template>
    </entry>
  </devices>
</config>
"""


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """What `show system info` reports; sw_version decides pan-os-python's XML variants."""

    hostname: str = "sim-fw"
    model: str = "PA-VM"
    serial: str = "007954000123456"
    sw_version: str = "10.2.4"
    multi_vsys: bool = False
    panorama: bool = False

    @classmethod
    def for_panorama(cls) -> SystemInfo:
        return cls(hostname="sim-panorama", model="Panorama", serial="000702100000", panorama=True)

    def fields(self) -> list[tuple[str, str]]:
        out = [
            ("hostname", self.hostname),
            ("ip-address", "127.0.0.1"),
            ("netmask", "255.0.0.0"),
            ("mac-address", "00:00:5e:00:53:01"),
            ("time", "Mon Jan  1 00:00:00 2024"),
            ("uptime", "0 days, 0:00:01"),
            ("devicename", self.hostname),
            ("family", "pc" if self.panorama else "vm"),
            ("model", self.model),
            ("serial", self.serial),
            ("sw-version", self.sw_version),
            ("app-version", "8700-8000"),
            ("app-release-date", "2024/01/01 00:00:00 UTC"),
            ("av-version", "0"),
            ("threat-version", "8700-8000"),
            ("wildfire-version", "0"),
            ("url-filtering-version", "0000.00.00.000"),
            ("logdb-version", "10.2.1"),
            ("vpn-disable-mode", "off"),
            ("multi-vsys", "on" if self.multi_vsys else "off"),
            ("operational-mode", "normal"),
        ]
        if self.panorama:
            out.append(("system-mode", "panorama"))
        return out


DEVICE_XPATH = "/config/devices/entry[@name='localhost.localdomain']"
VSYS1_XPATH = f"{DEVICE_XPATH}/vsys/entry[@name='vsys1']"
SHARED_XPATH = "/config/shared"


def device_group_xpath(name: str = "k8s") -> str:
    return f"{DEVICE_XPATH}/device-group/entry[@name='{name}']"

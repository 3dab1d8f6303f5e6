// Recording rules. The exporter puts a holder's pod UID on
// portwatch_port_socket_info (Linux, a process in a Kubernetes pod's cgroup);
// kube-state-metrics' kube_pod_info maps that UID to the pod's name and
// namespace. The join is recorded once here, so dashboards and ad-hoc queries
// name pods without repeating it. kube_pod_info's namespace and pod labels are
// renamed pod_namespace and pod_name: a scrape of the exporter's own pod may
// already carry namespace and pod as target labels.
{
  prometheusRules+:: {
    groups+: [
      {
        name: 'portwatch-kubernetes',
        rules: [
          {
            record: 'pod:portwatch_port_socket_info:kube_pod_info',
            expr: |||
              portwatch_port_socket_info{%(portwatchSelector)s, pod_uid!=""}
              * on (%(clusterLabel)s, pod_uid) group_left (pod_namespace, pod_name)
              max by (%(clusterLabel)s, pod_uid, pod_namespace, pod_name) (
                label_replace(
                  label_replace(
                    label_replace(kube_pod_info{%(kubeStateMetricsSelector)s}, "pod_uid", "$1", "uid", "(.+)"),
                    "pod_namespace", "$1", "namespace", "(.+)"
                  ),
                  "pod_name", "$1", "pod", "(.+)"
                )
              )
            ||| % $._config,
          },
        ],
      },
    ],
  },
}

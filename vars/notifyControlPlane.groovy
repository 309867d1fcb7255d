import io.pathops.jenkins.Inputs

/**
 * Tell PathOps how a job ended (success or failure, with the build URL), so a failed
 * Jenkins job is never silent. Call it from post { always { ... } }.
 * Documentation: notifyControlPlane.txt.
 */
def call(Map userConfig = [:]) {
    Map defaults = Inputs.endpoints(env) + [
        callbackCredentialsId : 'pathops-callback-signing-key',
        status                : currentBuild?.currentResult ?: 'UNKNOWN',
    ]
    Map cfg = defaults << userConfig
    Inputs.check(this, 'notifyControlPlane', cfg,
        [job: 'label', incidentId: 'id', changesetId: 'id', callbackUrl: 'url', callbackCredentialsId: 'credentialsId'],
        ['job', 'callbackUrl'])
    String status = cfg.status.toString().toLowerCase()
    if (!(status in ['success', 'failure', 'unstable', 'aborted', 'not_built', 'unknown'])) {
        error('[notifyControlPlane] status must be a Jenkins build result')
    }
    List<String> environment = [
        "JOB_NAME_PATHOPS=${cfg.job}",
        "JOB_STATUS=${status}",
        "BUILD_URL_PATHOPS=${env.BUILD_URL ?: ''}",
        "CONTROL_PLANE_CALLBACK_URL=${cfg.callbackUrl}",
    ]
    if (cfg.incidentId) {
        environment << "INCIDENT_ID=${cfg.incidentId}"
    }
    if (cfg.changesetId) {
        environment << "CHANGESET_ID=${cfg.changesetId}"
    }
    withCredentials([string(credentialsId: cfg.callbackCredentialsId, variable: 'CALLBACK_SIGNING_KEY')]) {
        withEnv(environment) {
            sh(label: 'jenkins-notifier notify-job', script: 'jenkins-notifier notify-job')
        }
    }
}
